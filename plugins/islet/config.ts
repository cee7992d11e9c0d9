/**
 * The islet configuration, in one of two roles chosen by the network config:
 * - IPAM wrapper: the parent plugin's config with `ipam.type == "islet"`; settings in `ipam`.
 * - chained recorder: `type == "islet"` as a conflist's last plugin; settings at the top level.
 * Unknown fields are tolerated (runtimes and installers add their own); wrong types are code 7.
 */
import { IPAM_DB, LINK_STATE_FILE } from '../../lib/defaults.js';
import { DurationError, parseDuration } from '../../lib/duration.js';
import { isObject } from '../../lib/is-object.js';
import { CniError, ErrorCode } from '../cni/errors.js';
import type { NetConf } from '../cni/types.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export const DEFAULTS = {
  database: IPAM_DB,
  snapshotTtlMs: 720 * 3_600_000,
  delegateTimeoutMs: 10_000,
  linkStateFile: LINK_STATE_FILE,
  requireUidMatch: true,
  logFile: '',
  logLevel: 'info' as LogLevel,
};

/** Fields a flannel-style parent may set beside `delegate` that belong to the delegate. */
const INHERITED_BY_DELEGATE = [
  'ranges',
  'routes',
  'subnet',
  'rangeStart',
  'rangeEnd',
  'gateway',
  'dataDir',
  'resolvConf',
];

interface Common {
  database: string;
  logFile: string;
  logLevel: LogLevel;
}

export interface WrapperConfig extends Common {
  role: 'ipam';
  /** The delegate's IPAM section, with inherited fields merged in. */
  delegate: Record<string, unknown>;
  delegateType: string;
  snapshotTtlMs: number;
  delegateTimeoutMs: number;
  linkStateFile: string;
  requireUidMatch: boolean;
}

export interface RecorderConfig extends Common {
  role: 'chained';
}

export type IsletConfig = WrapperConfig | RecorderConfig;

function invalid(msg: string): never {
  throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid islet config: ${msg}`);
}

function str(section: Record<string, unknown>, key: string, fallback: string, where: string): string {
  const v = section[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') invalid(`${where}.${key} must be a string`);
  return v;
}

function common(section: Record<string, unknown>, where: string): Common {
  const database = str(section, 'database', DEFAULTS.database, where);
  if (database === '') invalid(`${where}.database must not be empty`);
  const logLevel = str(section, 'logLevel', DEFAULTS.logLevel, where);
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    invalid(`${where}.logLevel "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    database,
    logFile: str(section, 'logFile', DEFAULTS.logFile, where),
    logLevel: logLevel as LogLevel,
  };
}

/** A Go duration string ("720h", "1h30m", "10s") or a number of seconds → whole milliseconds. */
function duration(section: Record<string, unknown>, key: string, fallback: number, where: string): number {
  const v = section[key];
  if (v === undefined || v === null) return fallback;
  const field = `${where}.${key}`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0)
      return invalid(`${field}: ${v} is not a non-negative number of seconds`);
    return Math.ceil(v * 1000); // rounded up like parseDuration: a positive value never becomes 0
  }
  if (typeof v !== 'string') {
    return invalid(`${field}: expected a duration like "720h" or "10s", or a number of seconds`);
  }
  try {
    return parseDuration(v);
  } catch (err) {
    if (err instanceof DurationError) return invalid(`${field}: ${err.message}`);
    throw err;
  }
}

export function parseConfig(conf: NetConf): IsletConfig {
  const ipam = conf.ipam;
  if (conf.type !== 'islet' && isObject(ipam) && ipam.type === 'islet') return parseWrapper(ipam);
  if (conf.type === 'islet') return { role: 'chained', ...common(conf, 'config') };
  return invalid(
    'islet must be called as "ipam": {"type": "islet", ...} or as a chained plugin with "type": "islet"',
  );
}

function parseWrapper(ipam: Record<string, unknown>): WrapperConfig {
  const where = 'ipam';
  const delegateRaw = ipam.delegate;
  if (!isObject(delegateRaw))
    invalid('ipam.delegate must be an object holding the real IPAM config (e.g. host-local)');
  const delegateType = delegateRaw.type;
  if (typeof delegateType !== 'string' || delegateType === '')
    invalid('ipam.delegate.type must be a plugin name');
  if (delegateType === 'islet') invalid('ipam.delegate.type must not be islet itself');
  const delegate: Record<string, unknown> = { ...delegateRaw };
  for (const key of INHERITED_BY_DELEGATE) {
    if (delegate[key] === undefined && ipam[key] !== undefined) delegate[key] = ipam[key];
  }
  const requireUidMatch = ipam.requireUidMatch ?? DEFAULTS.requireUidMatch;
  if (typeof requireUidMatch !== 'boolean') invalid('ipam.requireUidMatch must be true or false');
  const delegateTimeoutMs = duration(ipam, 'delegateTimeout', DEFAULTS.delegateTimeoutMs, where);
  if (delegateTimeoutMs <= 0) invalid('ipam.delegateTimeout must be greater than zero');
  return {
    role: 'ipam',
    ...common(ipam, where),
    delegate,
    delegateType,
    snapshotTtlMs: duration(ipam, 'snapshotTTL', DEFAULTS.snapshotTtlMs, where),
    delegateTimeoutMs,
    linkStateFile: str(ipam, 'linkStateFile', DEFAULTS.linkStateFile, where),
    requireUidMatch,
  };
}
