import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type FlagSpec, parseFlags, UsageError } from '../lib/args.js';
import { ADMIN_LISTEN, CACHE_DB, LINK_STATE_FILE, PROXY_LISTEN } from '../lib/defaults.js';
import { DurationError, parseDuration as parseGoDuration } from '../lib/duration.js';
import { loadKubeconfig, type UpstreamCredentials } from './kubeconfig.js';
import { type LogLevel, parseLogLevel } from './log.js';
import { parseServerUrl } from './upstream/api-server.js';
import { LB_MODES, type LbMode } from './upstream/balancer.js';

/** `islet proxy` flags → a validated configuration. Every flag is listed in HELP and docs/readme/proxy.md. */
export const PROXY_HELP = `Usage: islet proxy [flags]

Runs the caching Kubernetes API proxy: forwards to the API server(s) while online, keeps a durable
cache of what clients read, and serves GET/LIST/WATCH from it while offline.

Upstream:
  --kubeconfig FILE        take server, CA and client certificate/key (or token) from this kubeconfig
                           (e.g. /etc/kubernetes/kubelet.conf); flags below override it
  --server URL             API server URL; repeat for several (order = priority)
  --ca FILE                CA bundle for the API servers
  --cert FILE              node client certificate (re-read when it changes)
  --key FILE               node client key (may be the same file as --cert, as kubeadm's
                           kubelet-client-current.pem)
  --lb MODE                priority | round-robin | rtt                          (default priority)
  --probe-interval DUR     active /readyz probe interval                         (default 5s)
  --probe-timeout DUR      probe timeout                                         (default 2s)
  --request-timeout DUR    connect + response-head timeout of upstream requests  (default 10s)
  --offline-after N        consecutive failures before a server / the link is down (default 3)
  --online-after M         consecutive successes before it is up again           (default 2)

Listeners:
  --listen ADDR            plain HTTP for local clients without credentials      (default ${PROXY_LISTEN})
  --allow-non-loopback     allow --listen, --https-listen and --admin on non-loopback addresses
  --https-listen ADDR      optional HTTPS listener for clients with bearer tokens
  --tls-cert FILE          serving certificate for --https-listen
  --tls-key FILE           serving key for --https-listen
  --admin ADDR             /metrics, /healthz, /readyz ("off" disables)          (default ${ADMIN_LISTEN})

Cache and state:
  --cache FILE             SQLite cache                                          (default ${CACHE_DB})
  --exclude-secrets        never write Secrets to disk
  --link-state FILE        link-state file read by the CNI plugin                (default ${LINK_STATE_FILE})
  --max-body-bytes N       largest request body accepted                         (default 3145728)
  --bookmark-interval DUR  BOOKMARK period on idle watches                       (default 30s)

Memory:
  --memory-budget QTY      new watches get 429 while RSS or heap is above it; watch event
                           logs hold at most an eighth of it (Kubernetes quantity)  (default 256Mi)
  --max-watches-per-identity N
                           concurrent watches one client identity may hold; more get 429 (default 200)
  --watch-grace DUR        an upstream watch and its event log are kept this long after the last
                           local watcher left                                    (default 60s)

Logging:
  --log-level LEVEL        debug | info | warn | error                           (default info)
  --help                   this text

Durations are Go's: 500ms, 5s, 1m30s, 24h. Addresses are HOST:PORT; port 0 picks a free port (the
bound addresses are logged as {"msg":"listening",...} on stderr).
`;

const SPEC: FlagSpec = {
  kubeconfig: { type: 'string' },
  server: { type: 'strings' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  lb: { type: 'string', default: 'priority' },
  'probe-interval': { type: 'string', default: '5s' },
  'probe-timeout': { type: 'string', default: '2s' },
  'request-timeout': { type: 'string', default: '10s' },
  'offline-after': { type: 'string', default: '3' },
  'online-after': { type: 'string', default: '2' },
  listen: { type: 'string', default: PROXY_LISTEN },
  'allow-non-loopback': { type: 'boolean', default: false },
  'https-listen': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  admin: { type: 'string', default: ADMIN_LISTEN },
  cache: { type: 'string', default: CACHE_DB },
  'exclude-secrets': { type: 'boolean', default: false },
  'link-state': { type: 'string', default: LINK_STATE_FILE },
  'max-body-bytes': { type: 'string', default: String(3 * 1024 * 1024) },
  'bookmark-interval': { type: 'string', default: '30s' },
  'memory-budget': { type: 'string', default: '256Mi' },
  'max-watches-per-identity': { type: 'string', default: '200' },
  'watch-grace': { type: 'string', default: '60s' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', default: false },
};

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyConfig {
  upstream: UpstreamCredentials;
  lb: LbMode;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  requestTimeoutMs: number;
  offlineAfter: number;
  onlineAfter: number;
  listen: ListenAddress;
  httpsListen?: { address: ListenAddress; cert: Buffer; key: Buffer };
  admin?: ListenAddress;
  cachePath: string;
  excludeSecrets: boolean;
  linkStatePath: string;
  maxBodyBytes: number;
  bookmarkIntervalMs: number;
  memoryBudgetBytes: number;
  maxWatchesPerIdentity: number;
  watchGraceMs: number;
  logLevel: LogLevel;
}

export function parseDuration(value: string, flag: string): number {
  let ms: number;
  try {
    ms = parseGoDuration(value);
  } catch (err) {
    if (err instanceof DurationError) throw new UsageError(`--${flag}: ${err.message}`);
    throw err;
  }
  if (ms <= 0) throw new UsageError(`--${flag} must be positive`);
  return ms;
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A byte count as a Kubernetes resource quantity: 268435456, 256Mi, 1Gi, 500M, 1.5Gi. */
export function parseQuantity(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${flag}: "${value}" is not a quantity (use e.g. 256Mi, 1Gi, 500M)`);
  const bytes = Math.floor(Number(m[1]) * QUANTITY_SUFFIX[m[2] ?? '']!);
  // Below this the proxy's own start-up is already over budget and would refuse every watch.
  if (bytes < 16 * 2 ** 20) throw new UsageError(`--${flag} must be at least 16Mi (got ${value})`);
  return bytes;
}

function parsePositiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${flag}: "${value}" is not a positive integer`);
  }
  return Number(value);
}

export function parseListenAddress(value: string, flag: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--${flag}: "${value}" is not HOST:PORT`);
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`--${flag}: port ${port} out of range`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** Listeners bind to loopback unless the operator says otherwise; `why` says what is at stake. */
function requireLoopback(addr: ListenAddress, flag: string, why: string, allowed: boolean): void {
  if (allowed || isLoopback(addr.host)) return;
  throw new UsageError(`--${flag} ${addr.host}: ${why}; bind it to loopback or pass --allow-non-loopback`);
}

function readFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Parses argv; returns 'help' when --help was asked. Throws UsageError with an exact message. */
export function parseProxyArgs(argv: string[]): ProxyConfig | 'help' {
  const { flags, rest } = parseFlags(argv, SPEC);
  if (flags.help) return 'help';
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const str = (name: string) => flags[name] as string | undefined;

  let upstream: UpstreamCredentials = { servers: [] };
  const kubeconfig = str('kubeconfig');
  if (kubeconfig) {
    try {
      upstream = loadKubeconfig(kubeconfig);
    } catch (err) {
      throw new UsageError(`--kubeconfig: ${(err as Error).message}`);
    }
  }
  const servers = flags.server as string[] | undefined;
  if (servers && servers.length > 0) upstream.servers = servers;
  if (upstream.servers.length === 0)
    throw new UsageError('no upstream: give --server URL or --kubeconfig FILE');
  for (const s of upstream.servers) {
    try {
      parseServerUrl(s);
    } catch (err) {
      throw new UsageError(`--server: ${(err as Error).message}`);
    }
  }
  if (str('ca')) {
    upstream.caFile = str('ca');
    delete upstream.caData;
  }
  if (str('cert') || str('key')) {
    if (!str('cert') || !str('key'))
      throw new UsageError('--cert and --key go together (they may name the same file)');
    upstream.certFile = str('cert');
    upstream.keyFile = str('key');
    delete upstream.certData;
    delete upstream.keyData;
  }

  const lb = str('lb') as LbMode;
  if (!LB_MODES.includes(lb)) throw new UsageError(`--lb: "${lb}" is not one of ${LB_MODES.join(', ')}`);

  const allowNonLoopback = flags['allow-non-loopback'] === true;
  const listen = parseListenAddress(str('listen')!, 'listen');
  requireLoopback(listen, 'listen', 'the plain HTTP listener serves anyone as the node', allowNonLoopback);
  const config: ProxyConfig = {
    upstream,
    lb,
    probeIntervalMs: parseDuration(str('probe-interval')!, 'probe-interval'),
    probeTimeoutMs: parseDuration(str('probe-timeout')!, 'probe-timeout'),
    requestTimeoutMs: parseDuration(str('request-timeout')!, 'request-timeout'),
    offlineAfter: parsePositiveInt(str('offline-after')!, 'offline-after'),
    onlineAfter: parsePositiveInt(str('online-after')!, 'online-after'),
    listen,
    cachePath: str('cache')!,
    excludeSecrets: flags['exclude-secrets'] === true,
    linkStatePath: str('link-state')!,
    maxBodyBytes: parsePositiveInt(str('max-body-bytes')!, 'max-body-bytes'),
    bookmarkIntervalMs: parseDuration(str('bookmark-interval')!, 'bookmark-interval'),
    memoryBudgetBytes: parseQuantity(str('memory-budget')!, 'memory-budget'),
    maxWatchesPerIdentity: parsePositiveInt(str('max-watches-per-identity')!, 'max-watches-per-identity'),
    watchGraceMs: parseDuration(str('watch-grace')!, 'watch-grace'),
    logLevel: 'info',
  };
  try {
    config.logLevel = parseLogLevel(str('log-level')!);
  } catch (err) {
    throw new UsageError(`--log-level: ${(err as Error).message}`);
  }
  const admin = str('admin')!;
  if (admin !== 'off') {
    config.admin = parseListenAddress(admin, 'admin');
    requireLoopback(
      config.admin,
      'admin',
      'the admin listener shows anyone the node, its upstreams and its cache (/metrics)',
      allowNonLoopback,
    );
  }

  const httpsListen = str('https-listen');
  if (httpsListen) {
    if (!str('tls-cert') || !str('tls-key'))
      throw new UsageError('--https-listen needs --tls-cert and --tls-key');
    const address = parseListenAddress(httpsListen, 'https-listen');
    requireLoopback(
      address,
      'https-listen',
      'the HTTPS listener takes token clients from every network that reaches this address',
      allowNonLoopback,
    );
    config.httpsListen = {
      address,
      cert: readFile(str('tls-cert')!, 'tls-cert'),
      key: readFile(str('tls-key')!, 'tls-key'),
    };
  } else if (str('tls-cert') || str('tls-key')) {
    throw new UsageError('--tls-cert/--tls-key only make sense with --https-listen');
  }
  return config;
}
