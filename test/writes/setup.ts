import type * as k8s from '@kubernetes/client-node';
import {
  clientNodeConfig,
  eventually,
  fastBookmarkArgs,
  httpJson,
  localArgs,
  type RunningProxy,
  startProxy,
  tempDir,
  twoProbeLinkArgs,
  upstreamArgs,
  waitLink,
} from '../proxy/harness.js';
import { type Simulator, startSimulator } from '../sim/index.js';

/**
 * One simulator and one `dist/islet proxy` process per test file, with fast probes so tests can
 * cut the proxy's link (sim.partition) and see it go offline and come back within a second or two.
 */
export interface WritesRig {
  sim: Simulator;
  proxy: RunningProxy;
  dir: string;
  /** Restarts the proxy process on the same cache and queue (after kill -9 or stop). */
  restart(): Promise<RunningProxy>;
  offline(): Promise<void>;
  online(): Promise<void>;
  /** online(), then waits until the proxy replayed every queued write upstream. */
  onlineAndReplayed(): Promise<void>;
  metric(name: string, labels?: string): Promise<number>;
  kubeConfig(): k8s.KubeConfig;
  cleanup(): Promise<void>;
}

export async function startRig(): Promise<WritesRig> {
  const tmp = tempDir('islet-writes-it-');
  const sim = await startSimulator({ bookmarkIntervalMs: 300 });
  const cert = await sim.mintClientCert('node-a');
  const args = [...upstreamArgs(sim, cert), ...localArgs(tmp.dir), ...twoProbeLinkArgs, ...fastBookmarkArgs];
  const rig: WritesRig = {
    sim,
    proxy: await startProxy(args),
    dir: tmp.dir,
    async restart() {
      rig.proxy = await startProxy(args);
      return rig.proxy;
    },
    async offline() {
      await sim.partition('refuse');
      await waitLink(tmp.dir, 'offline');
    },
    async online() {
      await sim.heal();
      await waitLink(tmp.dir, 'online');
    },
    async onlineAndReplayed() {
      await rig.online();
      await eventually(
        'queue replayed',
        () => rig.metric('islet_writes_queued'),
        (n) => n === 0,
      );
    },
    async metric(name, labels = '') {
      const r = await httpJson(`${rig.proxy.adminUrl}/metrics`);
      const line = r.text
        .split('\n')
        .find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
      return line ? Number(line.split(' ').pop()) : 0;
    },
    kubeConfig: () => clientNodeConfig(rig.proxy.url),
    async cleanup() {
      await rig.proxy?.stop();
      await sim.close();
      tmp.cleanup();
    },
  };
  return rig;
}

/** A request to the proxy as kubelet sends it (no credentials, JSON). */
export async function send(
  rig: WritesRig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Record<string, unknown> & { metadata?: { resourceVersion?: string } } }> {
  const r = await httpJson(`${rig.proxy.url}${path}`, {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: r.body as never };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SeenEvent {
  type: string;
  object: { metadata: { name: string; resourceVersion?: string } };
}

/** A raw watch through the proxy that collects its event lines until closed. */
export function openWatch(rig: WritesRig, path: string): { events: SeenEvent[]; close(): void } {
  const events: SeenEvent[] = [];
  const ctl = new AbortController();
  void (async () => {
    try {
      const res = await fetch(`${rig.proxy.url}${path}`, {
        signal: ctl.signal,
        headers: { accept: 'application/json' },
      });
      let pending = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        pending += Buffer.from(chunk).toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as SeenEvent);
      }
    } catch {
      // aborted by close()
    }
  })();
  return { events, close: () => ctl.abort() };
}
