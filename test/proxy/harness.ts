import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { isletBinary } from '../islet-binary.js';

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
  let pending = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listening = new Promise<{ listen: string; admin: string; https: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${logs.join('\n')}`)), timeoutMs);
    proc.stderr!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (process.env.ISLET_TEST_VERBOSE) process.stderr.write(`[proxy] ${line}\n`);
        try {
          const rec = JSON.parse(line) as { msg?: string; listen?: string; admin?: string; https?: string };
          if (rec.msg === 'listening') {
            clearTimeout(timer);
            resolve({ listen: rec.listen!, admin: rec.admin ?? '', https: rec.https ?? '' });
          }
        } catch {
          // not a JSON line (e.g. a usage message)
        }
      }
    });
    proc.stdout!.resume();
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code} before listening:\n${logs.join('\n')}${pending}`));
    });
  });
  const { listen, admin, https } = await listening;
  return {
    url: `http://${listen}`,
    adminUrl: `http://${admin}`,
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

/** Plain HTTP request to the proxy; returns status, headers and parsed JSON (or text). */
export async function httpJson(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, text, headers: res.headers };
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
