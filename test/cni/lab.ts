import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isObject } from '../../lib/is-object.js';
import { type Database, openDatabase } from '../../lib/sqlite.js';
import { distDir, isletBinary } from '../islet-binary.js';
import { killPid, mustRun, type RunResult, run } from './process.js';

/** Where Debian's containernetworking-plugins live (bridge, host-local, tuning, ...). */
export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export const isRoot = process.getuid?.() === 0;

/** Privileged suites skip only when not root, and say so. */
export function requireRoot(suite: string): boolean {
  if (!isRoot) {
    console.warn(
      `[${suite}] skipped: needs root (network namespaces, bridges, bind mounts); CI runs as root`,
    );
  }
  return isRoot;
}

export function shortId(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

/** A Kubernetes pod as the kubelet names it to CNI. */
export interface Pod {
  namespace: string;
  name: string;
  uid: string;
}

export function newPod(name: string, namespace = 'default'): Pod {
  return { namespace, name, uid: randomUUID() };
}

/** CNI_ARGS as kubelet/CRI pass them (IgnoreUnknown first, as cri-o/containerd do). */
export function podCniArgs(pod: Pod, extra: Record<string, string> = {}): string {
  const pairs: Record<string, string> = {
    IgnoreUnknown: '1',
    K8S_POD_NAMESPACE: pod.namespace,
    K8S_POD_NAME: pod.name,
    K8S_POD_UID: pod.uid,
    ...extra,
  };
  return Object.entries(pairs)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

export interface Netns {
  name: string;
  path: string;
}

export interface Reservation {
  containerId: string;
  ifname: string | undefined;
}

/** A CNI invocation's outcome: the process result plus stdout parsed as JSON when it is JSON. */
export interface CniCall extends RunResult {
  json: Record<string, unknown> | undefined;
}

function withJson(r: RunResult): CniCall {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(r.stdout);
    if (isObject(parsed)) json = parsed;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

/** The IPv4 addresses of a CNI result (any version: 0.3.x/0.4.0 carry "version", 1.x do not). */
export function resultIps(json: Record<string, unknown> | undefined): string[] {
  const ips = (json?.ips ?? []) as Array<{ address?: string }>;
  return ips.map((i) => String(i.address).split('/')[0] ?? '');
}

export interface LabOptions {
  /** Short tag of the test file, used in names. */
  tag: string;
  /** The 10.<secondOctet>.0.0/16 block this test file uses; the third octet is random per lab. */
  secondOctet: number;
  /** Put a switchable wrapper named host-local (in front of the real one) into CNI_PATH. */
  wrapDelegate?: boolean;
  /** host-local's range inside the lab's /24 (last octets). */
  rangeStart?: number;
  rangeEnd?: number;
  /** Create the lab's bridge (needs root); false for tests that only run the binary directly. */
  bridge?: boolean;
}

export interface ConflistOptions {
  name: string;
  cniVersion?: string;
  /** IPAM under the bridge: islet wrapping host-local, or host-local alone (the baseline). */
  ipam?: 'islet' | 'host-local';
  /** Append the islet chained recorder as the last plugin. */
  recorder?: boolean;
  tuning?: boolean;
  /** Extra or overridden keys of the islet IPAM section. */
  isletIpam?: Record<string, unknown>;
  /** islet's database for both roles (default: the lab's). */
  database?: string;
  /** Folder to write the conflist into (default: the lab's NETCONFPATH). */
  netDir?: string;
}

export interface CnitoolOptions {
  pod?: Pod;
  /** Additional CNI_ARGS pairs (e.g. IP=). */
  args?: Record<string, string>;
  /** CNI_ARGS verbatim, instead of the pod's (runtimes other than the kubelet's). */
  rawArgs?: string;
  ifname?: string;
  env?: Record<string, string>;
  capArgs?: Record<string, unknown>;
  netDir?: string;
  timeoutMs?: number;
}

/**
 * One isolated CNI world for a test: a temp folder with CNI_PATH (the built islet, optionally the
 * switchable host-local wrapper, then Debian's plugins), NETCONFPATH, CNI_CACHE_DIR, host-local's
 * dataDir and islet's database; a bridge of its own with a gateway address on a random /24 of the
 * file's 10.x block; netns it created. cleanup() removes all of it.
 */
export class CniLab {
  readonly dir: string;
  readonly binDir: string;
  readonly netDir: string;
  readonly cacheDir: string;
  readonly dataDir: string;
  readonly dbPath: string;
  readonly flagDir: string;
  readonly linkStateFile: string;
  readonly bridge: string;
  readonly prefix: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly rangeStart: string;
  readonly rangeEnd: string;
  private readonly netnses = new Map<string, Netns>();
  private readonly mounts: string[] = [];
  private readonly bridgeCreated: boolean;

  private constructor(readonly opts: LabOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `islet-cni-${opts.tag}-`));
    this.binDir = join(this.dir, 'bin');
    this.netDir = join(this.dir, 'net.d');
    this.cacheDir = join(this.dir, 'cache');
    this.dataDir = join(this.dir, 'host-local');
    this.dbPath = join(this.dir, 'islet', 'ipam.db');
    this.flagDir = join(this.dir, 'flags');
    this.linkStateFile = join(this.dir, 'link.json');
    for (const d of [this.binDir, this.netDir, this.cacheDir, this.dataDir, this.flagDir]) {
      mkdirSync(d, { recursive: true });
    }
    this.bridgeCreated = opts.bridge !== false;
    this.bridge = `isl${opts.tag.slice(0, 4)}${shortId(3)}`.slice(0, 15);
    this.prefix = `10.${opts.secondOctet}.${randomBytes(1)[0]}`;
    this.subnet = `${this.prefix}.0/24`;
    this.gateway = `${this.prefix}.1`;
    this.rangeStart = `${this.prefix}.${opts.rangeStart ?? 2}`;
    this.rangeEnd = `${this.prefix}.${opts.rangeEnd ?? 254}`;
  }

  static async create(opts: LabOptions): Promise<CniLab> {
    if (!existsSync(isletBinary)) throw new Error(`${isletBinary} is missing: run npm run build`);
    const lab = new CniLab(opts);
    try {
      symlinkSync(isletBinary, join(lab.binDir, 'islet'));
      symlinkSync(join(distDir, 'better_sqlite3.node'), join(lab.binDir, 'better_sqlite3.node'));
      if (opts.wrapDelegate) lab.writeDelegateWrapper();
      if (opts.bridge === false) return lab;
      // The bridge exists before any ADD, with the gateway address on it, so the bridge plugin
      // runs with isGateway=false and never touches host forwarding or routes.
      await mustRun('ip', ['link', 'add', lab.bridge, 'type', 'bridge']);
      await mustRun('ip', ['addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge]);
      await mustRun('ip', ['link', 'set', lab.bridge, 'up']);
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
    return lab;
  }

  get cniPath(): string {
    return `${this.binDir}:${SYSTEM_CNI_DIR}`;
  }

  /**
   * host-local behind a shell wrapper that a test switches by flag files: `fail11` answers a
   * try-again-later error, `fail-opaque` an error that names no known transient cause, `hang`
   * blocks until killed, `hold-add` lets the real host-local allocate and then blocks (the crash
   * window after the delegate reserved an address).
   */
  private writeDelegateWrapper(): void {
    const f = this.flagDir;
    const script = `#!/bin/sh
if [ -e '${f}/fail11' ]; then
  printf '{"cniVersion":"1.0.0","code":11,"msg":"IPAM backend unreachable: connection refused"}'
  exit 1
fi
if [ -e '${f}/fail-opaque' ]; then
  printf '{"cniVersion":"1.0.0","code":999,"msg":"ipam backend: unexpected EOF"}'
  exit 1
fi
if [ -e '${f}/hang' ]; then
  echo $$ >> '${f}/pids'
  exec sleep 300
fi
if [ -e '${f}/hold-add' ] && [ "$CNI_COMMAND" = ADD ]; then
  out=$(${SYSTEM_CNI_DIR}/host-local)
  printf '%s' "$out" > '${f}/held-result'
  echo $$ >> '${f}/pids'
  echo $$ > '${f}/held'
  exec sleep 300
fi
exec ${SYSTEM_CNI_DIR}/host-local
`;
    writeFileSync(join(this.binDir, 'host-local'), script, { mode: 0o755 });
  }

  /** Puts an extra executable (a misbehaving test delegate) into the lab's CNI_PATH folder. */
  writePlugin(name: string, script: string): void {
    writeFileSync(join(this.binDir, name), script, { mode: 0o755 });
  }

  flag(name: 'fail11' | 'fail-opaque' | 'hang' | 'hold-add', on: boolean): void {
    const p = join(this.flagDir, name);
    if (on) writeFileSync(p, '');
    else rmSync(p, { force: true });
  }

  flagFile(name: string): string {
    return join(this.flagDir, name);
  }

  /** The base environment of every call: nothing of the test runner's CNI_* leaks in. */
  baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra };
  }

  hostLocal(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      type: 'host-local',
      ranges: [
        [
          {
            subnet: this.subnet,
            rangeStart: this.rangeStart,
            rangeEnd: this.rangeEnd,
            gateway: this.gateway,
          },
        ],
      ],
      dataDir: this.dataDir,
      ...overrides,
    };
  }

  isletIpam(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      type: 'islet',
      delegate: this.hostLocal(),
      database: this.dbPath,
      snapshotTTL: '720h',
      delegateTimeout: '10s',
      linkStateFile: this.linkStateFile,
      requireUidMatch: true,
      ...overrides,
    };
  }

  recorder(): Record<string, unknown> {
    return { type: 'islet', database: this.dbPath };
  }

  bridgePlugin(ipam: Record<string, unknown>): Record<string, unknown> {
    return { type: 'bridge', bridge: this.bridge, isGateway: false, ipMasq: false, ipam };
  }

  /** Writes a bridge(+tuning)(+recorder) conflist into NETCONFPATH and returns it. */
  conflist(o: ConflistOptions): Record<string, unknown> {
    const db = o.database !== undefined ? { database: o.database } : {};
    const ipam =
      (o.ipam ?? 'islet') === 'islet' ? this.isletIpam({ ...db, ...o.isletIpam }) : this.hostLocal();
    const plugins: Record<string, unknown>[] = [this.bridgePlugin(ipam)];
    if (o.tuning ?? true) plugins.push({ type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } });
    if (o.recorder ?? true) plugins.push({ ...this.recorder(), ...db });
    const conf = { cniVersion: o.cniVersion ?? '1.0.0', name: o.name, plugins };
    const dir = o.netDir ?? this.netDir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${o.name}.conflist`), JSON.stringify(conf, null, 2));
    return conf;
  }

  /** The network config the bridge plugin hands its IPAM (what islet sees as the IPAM wrapper). */
  ipamStdin(network: string, cniVersion = '1.0.0', overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      cniVersion,
      name: network,
      ...this.bridgePlugin(this.isletIpam(overrides)),
    });
  }

  async netns(): Promise<Netns> {
    const name = `islet-${this.opts.tag}-${shortId(4)}`;
    await mustRun('ip', ['netns', 'add', name]);
    const ns = { name, path: `/var/run/netns/${name}` };
    this.netnses.set(name, ns);
    return ns;
  }

  /** Removes a netns (its veth dies with it), as a sandbox that is gone or a reboot would. */
  async deleteNetns(ns: Netns): Promise<void> {
    await run('ip', ['netns', 'del', ns.name]);
    this.netnses.delete(ns.name);
  }

  async cnitool(
    verb: 'add' | 'check' | 'del',
    network: string,
    ns: Netns,
    o: CnitoolOptions = {},
  ): Promise<CniCall> {
    const env = this.baseEnv({
      NETCONFPATH: o.netDir ?? this.netDir,
      CNI_PATH: this.cniPath,
      CNI_CACHE_DIR: this.cacheDir,
      CNI_IFNAME: o.ifname ?? 'eth0',
      ...(o.pod ? { CNI_ARGS: podCniArgs(o.pod, o.args) } : {}),
      ...(o.rawArgs !== undefined ? { CNI_ARGS: o.rawArgs } : {}),
      ...(o.capArgs ? { CAP_ARGS: JSON.stringify(o.capArgs) } : {}),
      ...o.env,
    });
    return withJson(
      await run('cnitool', [verb, network, ns.path], { env, timeoutMs: o.timeoutMs ?? 60_000 }),
    );
  }

  /** Runs the plugin binary (through CNI_PATH's symlink) the way a runtime execs it. */
  async islet(env: Record<string, string>, stdin: string | object, timeoutMs = 60_000): Promise<CniCall> {
    const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
    return withJson(await run(join(this.binDir, 'islet'), [], { env: this.baseEnv(env), input, timeoutMs }));
  }

  /**
   * islet as the IPAM wrapper for `pod`'s sandbox `containerId`, called as the bridge plugin calls
   * it: ADD with a netns path (IPAM never enters it), DEL without. `stdin` as ipamStdin() makes it.
   */
  ipam(
    command: 'ADD' | 'DEL',
    containerId: string,
    pod: Pod,
    stdin: string,
    extra: Record<string, string> = {},
  ): Promise<CniCall> {
    const netns = command === 'ADD' ? `/var/run/netns/islet-${this.opts.tag}-none` : '';
    return this.islet(this.ipamEnv(command, containerId, pod, netns, extra), stdin);
  }

  /** An ipam('ADD', ...) that must succeed: the address it gave the sandbox. */
  async ipamAddress(containerId: string, pod: Pod, stdin: string): Promise<string> {
    const add = await this.ipam('ADD', containerId, pod, stdin);
    const [ip] = resultIps(add.json);
    if (add.code !== 0 || !ip)
      throw new Error(`IPAM ADD ${containerId} failed (${add.code}): ${add.stdout}${add.stderr}`);
    return ip;
  }

  /** The environment of an IPAM-wrapper call for one pod sandbox. */
  ipamEnv(
    command: string,
    containerId: string,
    pod: Pod | undefined,
    netnsPath: string,
    extra: Record<string, string> = {},
  ): Record<string, string> {
    return {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netnsPath,
      CNI_IFNAME: 'eth0',
      CNI_PATH: this.cniPath,
      ...(pod ? { CNI_ARGS: podCniArgs(pod) } : {}),
      ...extra,
    };
  }

  /** host-local's reservations: one file per IP holding "containerID\r\nifname". */
  reservations(network: string): Map<string, Reservation> {
    const dir = join(this.dataDir, network);
    const out = new Map<string, Reservation>();
    if (!existsSync(dir)) return out;
    for (const f of readdirSync(dir)) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
      const [containerId = '', ifname] = readFileSync(join(dir, f), 'utf8').split('\r\n');
      out.set(f, { containerId: containerId.trim(), ifname: ifname?.trim() });
    }
    return out;
  }

  /** islet's database, read-only, for assertions. Close it after use. */
  db(): Database {
    return openDatabase(this.dbPath, { readonly: true });
  }

  integrityCheck(): string {
    const db = this.db();
    try {
      return String(db.pragma('integrity_check', { simple: true }));
    } finally {
      db.close();
    }
  }

  /** Makes a folder read-only for everyone, root included (chmod does not stop root). */
  async mountReadOnly(path: string): Promise<void> {
    await mustRun('mount', ['--bind', path, path]);
    this.mounts.push(path);
    await mustRun('mount', ['-o', 'remount,bind,ro', path]);
  }

  async unmount(path: string): Promise<void> {
    const i = this.mounts.lastIndexOf(path);
    if (i < 0) return;
    await mustRun('umount', [path]);
    this.mounts.splice(i, 1);
  }

  async ping(ns: Netns, ip: string): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns.name, 'ping', '-c', '1', '-W', '2', ip], { timeoutMs: 15_000 });
  }

  /** Reads a file as seen from inside a netns (per-namespace /proc/sys values). */
  async netnsRead(ns: Netns, path: string): Promise<string> {
    return mustRun('ip', ['netns', 'exec', ns.name, 'cat', path]);
  }

  /** IPv4 addresses configured on an interface inside a netns. */
  async addressesIn(ns: Netns, ifname = 'eth0'): Promise<string[]> {
    const r = await run('ip', ['-n', ns.name, '-j', '-4', 'addr', 'show', 'dev', ifname]);
    if (r.code !== 0) return [];
    const links = JSON.parse(r.stdout) as Array<{ addr_info?: Array<{ local: string }> }>;
    return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
  }

  async macIn(ns: Netns, ifname = 'eth0'): Promise<string | undefined> {
    const r = await run('ip', ['-n', ns.name, '-j', 'link', 'show', 'dev', ifname]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as Array<{ address?: string }>)[0]?.address;
  }

  /** Processes the delegate wrapper left blocking (their pids are in the flag folder). */
  killDelegates(): void {
    const file = join(this.flagDir, 'pids');
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const pid = Number(line.trim());
      if (Number.isInteger(pid) && pid > 1) killPid(pid);
    }
    rmSync(file, { force: true });
  }

  async cleanup(): Promise<void> {
    this.killDelegates();
    for (const m of this.mounts.reverse()) await run('umount', ['-l', m]);
    this.mounts.length = 0;
    for (const ns of this.netnses.values()) await run('ip', ['netns', 'del', ns.name]);
    this.netnses.clear();
    if (this.bridgeCreated) await run('ip', ['link', 'del', this.bridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** cnitool derives its container ID from the netns path ("cnitool-" + 20 hex of its SHA-512). */
export function cnitoolContainerId(ns: Netns): string {
  return `cnitool-${createHash('sha512').update(ns.path).digest('hex').slice(0, 20)}`;
}
