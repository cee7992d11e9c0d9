/**
 * Shared set-up of the end-to-end watch tests: the simulator, the built `dist/islet proxy` as a
 * process in front of it, client-node informers and kubectl pointed at the proxy, and readings of
 * the proxy's own /metrics (LISTs that local clients sent it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { eventually, Kubectl, type RunningProxy, startProxy, tempDir } from '../proxy/harness.js';
import { type Simulator, startSimulator } from '../sim/index.js';

export type Named = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } };

export interface Env {
  sim: Simulator;
  proxy: RunningProxy;
  kubectl: Kubectl;
  dir: string;
  linkState(): string;
  cleanup(): Promise<void>;
}

export async function startEnv(prefix: string, extraProxyArgs: string[] = []): Promise<Env> {
  const tmp = tempDir(prefix);
  const sim = await startSimulator({ bookmarkIntervalMs: 300 });
  const cert = await sim.mintClientCert('node-a');
  const linkFile = join(tmp.dir, 'link.json');
  let proxy: RunningProxy;
  try {
    proxy = await startProxy([
      ...['--server', sim.url, '--ca', sim.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
      ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'],
      ...['--cache', join(tmp.dir, 'cache.db'), '--link-state', linkFile],
      ...['--probe-interval', '200ms', '--probe-timeout', '500ms', '--request-timeout', '3s'],
      ...['--offline-after', '2', '--online-after', '2', '--bookmark-interval', '500ms'],
      ...extraProxyArgs,
    ]);
  } catch (err) {
    await sim.close();
    tmp.cleanup();
    throw err;
  }
  return {
    sim,
    proxy,
    kubectl: new Kubectl(tmp.dir, proxy.url),
    dir: tmp.dir,
    linkState: () => {
      try {
        return (JSON.parse(readFileSync(linkFile, 'utf8')) as { state: string }).state;
      } catch {
        return 'unknown';
      }
    },
    async cleanup() {
      await proxy.stop();
      await sim.close();
      tmp.cleanup();
    },
  };
}

/** An informer that records what it holds, its LIST calls and any error it reports. */
export interface TrackedInformer {
  informer: k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;
  lists: number;
  errors: unknown[];
  events: string[];
  /** namespace/name@resourceVersion of everything it holds, sorted. */
  state(): string[];
  /** The resourceVersion it would resume from. */
  resourceVersion(): string;
}

export function trackInformer(kc: k8s.KubeConfig, kind: 'pods' | 'endpointslices'): TrackedInformer {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const t: TrackedInformer = {
    informer: undefined as never,
    lists: 0,
    errors: [],
    events: [],
    state: () => stateOf(t.informer.list() as Named[]),
    // makeInformer's declared type hides that it is a ListWatch, which knows its version.
    resourceVersion: () =>
      (t.informer as unknown as k8s.ListWatch<k8s.KubernetesObject>).latestResourceVersion(),
  };
  const listFn =
    kind === 'pods'
      ? () => {
          t.lists++;
          return core.listPodForAllNamespaces();
        }
      : () => {
          t.lists++;
          return discovery.listEndpointSliceForAllNamespaces();
        };
  const path = kind === 'pods' ? '/api/v1/pods' : '/apis/discovery.k8s.io/v1/endpointslices';
  t.informer = k8s.makeInformer(
    kc,
    path,
    listFn as () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
  );
  t.informer.on('error', (err) => t.errors.push(err));
  for (const verb of ['add', 'update', 'delete'] as const) {
    t.informer.on(verb, (o) => t.events.push(`${verb} ${(o as Named).metadata?.name}`));
  }
  return t;
}

export function stateOf(items: Named[]): string[] {
  return items
    .map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}@${o.metadata?.resourceVersion}`)
    .sort();
}

/** The simulator's truth in the same shape. */
export function simState(sim: Simulator, ref: 'pods' | 'endpointslices'): string[] {
  const r = ref === 'pods' ? 'pods' : { group: 'discovery.k8s.io', resource: 'endpointslices' };
  return stateOf(sim.list(r).items as Named[]);
}

/** Sum of the proxy's islet_proxy_requests_total for a verb (and resource). */
export async function proxyRequests(proxy: RunningProxy, verb: string, resource?: string): Promise<number> {
  return (await metricLines(proxy, 'islet_proxy_requests_total'))
    .filter((l) => l.includes(`verb="${verb}"`) && (!resource || l.includes(`resource="${resource}"`)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export async function metricLines(proxy: RunningProxy, name: string): Promise<string[]> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

export async function metricValue(proxy: RunningProxy, name: string, labels: string): Promise<number> {
  const line = (await metricLines(proxy, name)).find((l) => l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** `kubectl get … -w` as a child process; its output lines accumulate in `out`. */
export interface KubectlWatch {
  proc: ChildProcess;
  out: () => string;
  stop(): void;
}

export function kubectlWatch(env: Env, args: string[]): KubectlWatch {
  const proc = spawn('kubectl', ['--kubeconfig', env.kubectl.kubeconfigPath, 'get', ...args, '-w'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: env.dir },
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return {
    proc,
    out: () => out,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    },
  };
}

export async function waitLink(env: Env, state: 'online' | 'offline'): Promise<void> {
  await eventually(
    `link ${state}`,
    () => env.linkState(),
    (s) => s === state,
    30_000,
  );
}

export function pod(name: string, app = 'web', ns = 'default') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app } },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
  };
}

export function slice(name: string, ip: string, ns = 'default') {
  return {
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': name.split('-')[0]! } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip] }],
  };
}

export const slices = { group: 'discovery.k8s.io', resource: 'endpointslices' };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
