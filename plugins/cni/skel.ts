/**
 * The plugin skeleton: environment + stdin → one verb → exactly one JSON object on stdout (the
 * result, the VERSION answer, or an error) and an exit code. Validation follows libcni's skel, in
 * its order, with its codes: missing env (4) → stdin JSON (6) → network name (7) → container id
 * (3 empty / 4 bad characters) → ifname (4) → cniVersion (1).
 */
import { traced } from '../../lib/cni-trace.js';
import { isObject } from '../../lib/is-object.js';
import { asCniError, CniError, ErrorCode } from './errors.js';
import type { CmdArgs, Command, NetConf } from './types.js';
import {
  atLeast,
  CURRENT_VERSION,
  IMPLICIT_VERSION,
  isSupported,
  requireSupported,
  SUPPORTED_VERSIONS,
} from './version.js';

export interface PluginVerbs {
  /** Returns the result in the wire shape of the config's cniVersion. */
  add(args: CmdArgs): Promise<Record<string, unknown>>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  gc(args: CmdArgs): Promise<void>;
  status(args: CmdArgs): Promise<void>;
}

export interface SkelIo {
  env: NodeJS.ProcessEnv;
  /** Reads all of stdin; called at most once, never for VERSION without piped input. */
  readStdin(): Buffer;
  /**
   * VERSION's optional request. Unlike the other verbs, a caller may run VERSION without ever
   * closing stdin, so this must not wait for EOF indefinitely. Defaults to readStdin.
   */
  readVersionRequest?(): Promise<Buffer>;
  /** True when stdin may carry data (not a terminal). */
  stdinIsPiped: boolean;
  writeStdout(text: string): void;
}

const REQUIRED: Record<Command, string[]> = {
  ADD: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_COMMAND', 'CNI_PATH'],
  STATUS: ['CNI_COMMAND', 'CNI_PATH'],
  VERSION: ['CNI_COMMAND'],
};

const COMMANDS = new Set<string>(Object.keys(REQUIRED));

/** libcni's pattern for container ids and network names. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_IFNAME_BYTES = 15;

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(ErrorCode.UnknownContainer, 'missing containerID');
  if (!NAME_PATTERN.test(id)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in containerID', id);
  }
}

export function validateIfname(ifname: string): void {
  if (ifname === '') throw new CniError(ErrorCode.InvalidEnvironment, 'interface name is empty');
  if (Buffer.byteLength(ifname) > MAX_IFNAME_BYTES) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      'interface name is too long',
      `interface name should be less than ${MAX_IFNAME_BYTES + 1} characters`,
    );
  }
  if (ifname === '.' || ifname === '..') {
    throw new CniError(ErrorCode.InvalidEnvironment, 'interface name is . or ..');
  }
  if (/[/:\s]/u.test(ifname)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      'interface name contains / or : or whitespace characters',
    );
  }
}

export function validateNetworkName(name: unknown): void {
  if (name === undefined || name === null || name === '') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  }
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'invalid characters found in network name',
      String(name),
    );
  }
}

function decodeConf(stdin: Buffer): NetConf {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin.toString('utf8'));
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `error unmarshalling network config: ${(err as Error).message}`,
    );
  }
  if (!isObject(parsed)) {
    throw new CniError(ErrorCode.DecodingFailure, 'error unmarshalling network config: not a JSON object');
  }
  const conf = parsed;
  if (conf.cniVersion !== undefined && typeof conf.cniVersion !== 'string') {
    throw new CniError(ErrorCode.DecodingFailure, 'cniVersion must be a string');
  }
  return conf as NetConf;
}

async function versionAnswer(io: SkelIo): Promise<Record<string, unknown>> {
  let requested: unknown;
  if (io.stdinIsPiped) {
    try {
      const raw = io.readVersionRequest ? await io.readVersionRequest() : io.readStdin();
      requested = (JSON.parse(raw.toString('utf8')) as { cniVersion?: unknown }).cniVersion;
    } catch {
      // VERSION needs no stdin (libcni's skel ignores it); a request we cannot read gets ours.
    }
  }
  const cniVersion = typeof requested === 'string' && isSupported(requested) ? requested : CURRENT_VERSION;
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

function minimumVersion(command: Command): string | undefined {
  if (command === 'CHECK') return '0.4.0';
  if (command === 'GC' || command === 'STATUS') return '1.1.0';
  return undefined;
}

/** Validates env and stdin for the verb; throws the CniError libcni's skel would report. */
export function prepare(io: SkelIo): CmdArgs | 'VERSION' {
  const env = io.env;
  const raw = env.CNI_COMMAND ?? '';
  const command = (COMMANDS.has(raw) ? raw : undefined) as Command | undefined;
  const required = command ? REQUIRED[command] : ['CNI_COMMAND'];
  const missing = required.filter((name) => (env[name] ?? '') === '');
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  if (!command) throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${raw}`);
  if (command === 'VERSION') return 'VERSION';

  const stdin = traced('stdin', () => io.readStdin());
  const conf = decodeConf(stdin);
  validateNetworkName(conf.name);
  const perContainer = command === 'ADD' || command === 'CHECK' || command === 'DEL';
  if (perContainer) {
    validateContainerId(env.CNI_CONTAINERID ?? '');
    validateIfname(env.CNI_IFNAME ?? '');
  }
  const version = conf.cniVersion ?? IMPLICIT_VERSION;
  requireSupported(version);
  conf.cniVersion = version;
  const min = minimumVersion(command);
  if (min && !atLeast(version, min)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `needs ${min} or later`,
    );
  }
  return {
    command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
    stdin,
    conf,
    env,
  };
}

/** Runs one verb and prints its single JSON answer; returns the exit code. */
export async function dispatch(verbs: PluginVerbs, io: SkelIo): Promise<number> {
  let cniVersion = CURRENT_VERSION;
  try {
    const args = traced('input', () => prepare(io));
    if (args === 'VERSION') {
      io.writeStdout(`${JSON.stringify(await versionAnswer(io))}\n`);
      return 0;
    }
    cniVersion = args.conf.cniVersion;
    switch (args.command) {
      case 'ADD': {
        const result = await verbs.add(args);
        traced('output', () => io.writeStdout(`${JSON.stringify(result)}\n`));
        return 0;
      }
      case 'DEL':
        await verbs.del(args);
        return 0;
      case 'CHECK':
        await verbs.check(args);
        return 0;
      case 'GC':
        await verbs.gc(args);
        return 0;
      case 'STATUS':
        await verbs.status(args);
        return 0;
    }
  } catch (err) {
    io.writeStdout(`${JSON.stringify(asCniError(err).toJSON(cniVersion))}\n`);
    return 1;
  }
  return 1;
}
