import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { isletBinary } from '../islet-binary.js';
import { untilListening } from '../listening.js';

const execFileP = promisify(execFile);

/**
 * Runs the built `dist/islet proxy` as a child process the way a node would, and finds its ports
 * from the `{"msg":"listening",...}` line it logs on stderr.
 */
export interface RunningProxy {
  url: string;
  adminUrl: string;
  /** https://HOST:PORT of --https-listen, '' without it. */
  httpsUrl: string;
  proc: ChildProcess;
  /** Every stderr line so far (JSON logs). */
  logs: string[];
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export async function startProxy(
  args: string[],
  timeoutMs = 30_000,
  binary = isletBinary,
): Promise<RunningProxy> {
  const proc = spawn(binary, ['proxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const { listen, admin, https } = await untilListening(proc, 'proxy', logs, timeoutMs);
  return {
    url: `http://${listen}`,
    adminUrl: `http://${admin ?? ''}`,
    httpsUrl: https ? `https://${https}` : '',
    proc,
    logs,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** kubectl with a kubeconfig that points at the proxy without credentials (kubelet-style). */
export class Kubectl {
  private readonly kubeconfig: string;
  private readonly cacheDir: string;

  constructor(
    dir: string,
    readonly server: string,
  ) {
    this.kubeconfig = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
    this.cacheDir = join(dir, 'kubectl-cache');
    writeFileSync(
      this.kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: islet',
        `  cluster: {server: "${server}"}`,
        'users:',
        '- name: node',
        '  user: {}',
        'contexts:',
        '- name: islet',
        '  context: {cluster: islet, user: node}',
        'current-context: islet',
        '',
      ].join('\n'),
    );
  }

  get kubeconfigPath(): string {
    return this.kubeconfig;
  }

  async run(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await execFileP(
        'kubectl',
        ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, '--request-timeout', '20s', ...args],
        { timeout: timeoutMs, env: { ...process.env, HOME: this.cacheDir } },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : 1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  }

  async json<T = { items: { metadata: { name: string } }[] }>(args: string[]): Promise<T> {
    const r = await this.run([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * `kubectl get <args> -w -o name` in the background: `seen(name)` waits until it printed that
   * line (e.g. `pod/web-1`); stop() ends it.
   */
  watch(args: string[]): { seen(name: string): Promise<void>; stop(): void } {
    const proc = spawn(
      'kubectl',
      ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, 'get', ...args, '-w', '-o', 'name'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: this.cacheDir } },
    );
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    return {
      seen: async (name) => {
        await eventually(
          `kubectl get -w to print ${name}`,
          () => out,
          (o) => o.split('\n').includes(name),
        );
      },
      stop: () => proc.kill('SIGTERM'),
    };
  }
}

/** Polls until `cond` holds (or throws with `what`). */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T> | T,
  ok: (v: T) => boolean = Boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`,
  );
}

/** An answer's status, its body as text and parsed as JSON (the text when it is not JSON). */
export interface Answer {
  status: number;
  body: unknown;
  text: string;
}

function parsed(status: number, text: string): Answer {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status, body, text };
}

/** Reads a node:http(s) response to its end (for requests fetch cannot make: TRACE, client CAs). */
export function answerOf(res: IncomingMessage): Promise<Answer & { headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
    });
    res.on('error', reject);
    res.on('end', () => resolve({ ...parsed(res.statusCode ?? 0, text), headers: res.headers }));
  });
}

/** A GET over HTTPS that trusts only the CA in the file `caCert` (e.g. the proxy's HTTPS listener). */
export function httpsGet(url: string, caCert: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(caCert), headers }, (res) => void answerOf(res).then(resolve, reject))
      .on('error', reject);
  });
}

/** Plain HTTP request to the proxy; returns status, headers and parsed JSON (or text). */
export async function httpJson(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { ...parsed(res.status, await res.text()), headers: res.headers };
}

/** The upstream flags for a simulator: its URL, and its CA plus a node client certificate when it serves TLS. */
export function upstreamArgs(
  sim: { url: string; caPath?: string },
  cert?: { certPath: string; keyPath: string },
): string[] {
  return [
    '--server',
    sim.url,
    // A plain-HTTP simulator has no CA (and throws when asked for one).
    ...(sim.url.startsWith('https:') && sim.caPath ? ['--ca', sim.caPath] : []),
    ...(cert ? ['--cert', cert.certPath, '--key', cert.keyPath] : []),
  ];
}

/** Ephemeral listener and admin ports, and the cache and link-state files in `dir`. */
export function localArgs(dir: string): string[] {
  return [
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--cache',
    join(dir, 'cache.db'),
    '--link-state',
    join(dir, 'link.json'),
  ];
}

/** The link-state file localArgs(dir) has the proxy write. */
export function linkFile(dir: string): string {
  return join(dir, 'link.json');
}

/** The link state in the proxy's link-state file: online, offline, or unknown before the first write. */
export function linkState(dir: string): string {
  try {
    return (JSON.parse(readFileSync(linkFile(dir), 'utf8')) as { state: string }).state;
  } catch {
    return 'unknown';
  }
}

/** Waits until the proxy's link-state file (localArgs(dir)) says `state`. */
export async function waitLink(dir: string, state: 'online' | 'offline', timeoutMs = 30_000): Promise<void> {
  await eventually(
    `link ${state}`,
    () => linkState(dir),
    (s) => s === state,
    timeoutMs,
  );
}

/** One upstream's health as the proxy's /readyz reports it. */
export interface UpstreamHealth {
  url: string;
  healthy: boolean;
  /** Probes sent so far (counted when sent) and those that failed. */
  probes: number;
  probeFailures: number;
}

/** The proxy's /readyz: 200 while the link is online, 503 offline, and each upstream's health. */
export async function readyz(proxy: Pick<RunningProxy, 'adminUrl'>): Promise<{
  status: number;
  upstreams: UpstreamHealth[];
}> {
  const r = await httpJson(`${proxy.adminUrl}/readyz`);
  return { status: r.status, upstreams: (r.body as { upstreams: UpstreamHealth[] }).upstreams };
}

/** Waits until the proxy's /readyz says the link is `state` (200 online, 503 offline). */
export async function waitReadyz(proxy: Pick<RunningProxy, 'adminUrl'>, state: 'online' | 'offline') {
  await eventually(
    `/readyz to say the link is ${state}`,
    async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
    (s) => s === (state === 'online' ? 200 : 503),
  );
}

/** The value of a metric (first series) from the proxy's admin /metrics; NaN when absent. */
export async function metric(adminUrl: string, name: string): Promise<number> {
  const text = (await httpJson(`${adminUrl}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

/** A client-node config for the proxy's plain HTTP listener, without credentials (kubelet-style). */
export function clientNodeConfig(server: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless skipTLSVerify is set (nothing to verify on loopback http).
    clusters: [{ name: 'islet', server, skipTLSVerify: true }],
    users: [{ name: 'node' }],
    contexts: [{ name: 'islet', cluster: 'islet', user: 'node' }],
    currentContext: 'islet',
  });
  return kc;
}

/** A pod informer that restarts itself after errors, as controllers built on client-node do. */
export function podInformer(kc: k8s.KubeConfig, restartMs = 300) {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const errors: unknown[] = [];
  let stopped = false;
  informer.on('error', (err) => {
    errors.push(err);
    if (!stopped) setTimeout(() => void informer.start().catch(() => {}), restartMs);
  });
  return {
    informer,
    errors,
    names: () =>
      informer
        .list()
        .map((p) => p.metadata?.name ?? '')
        .sort(),
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}

/** Probe flags that make the proxy follow a cut or healed link within a fraction of a second. */
export const fastLinkArgs = ['--probe-interval', '200ms', '--offline-after', '1', '--online-after', '1'];

/**
 * Probe flags as the node-realistic suites run the proxy: a cut or healed link shows within a
 * second or two, and it takes two failed probes in a row (not one) to go offline, two passed ones
 * to come back; requests give up after 3 s.
 */
export const twoProbeLinkArgs = [
  ...['--probe-interval', '200ms', '--probe-timeout', '500ms', '--request-timeout', '3s'],
  ...['--offline-after', '2', '--online-after', '2'],
];

/** BOOKMARKs on idle watches every 300 ms (the simulator's own period in the suites), not 30 s. */
export const fastBookmarkArgs = ['--bookmark-interval', '300ms'];
