/**
 * Offline write cost: kubelet's node-status heartbeats and pod-status patches during
 * an outage, measured in one run against a baseline of the same writes sent while online.
 *
 *   online  (baseline): N node-status + N pod-status strategic merge patches through
 *                       `dist/islet proxy`, passed through to the simulator: N×2 upstream writes.
 *   offline:            the same 2N patches answered locally (queued durably, coalesced per object),
 *                       then the link heals and the queue is replayed.
 * Prints the median latency of one write online vs offline, and the upstream write requests the
 * replay costs vs the baseline's (coalescing: only the newest status matters).
 *
 *   npm run bench:writes                      (builds dist/islet first)
 *   npm run bench:writes -- --writes 500
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseFlags } from '../../lib/args.js';
import { eventually, startProxy, tempDir } from '../../test/proxy/harness.js';
import { startSimulator } from '../../test/sim/index.js';

const { flags } = parseFlags(process.argv.slice(2), { writes: { type: 'string', default: '200' } });
const N = Number(flags.writes);
if (!Number.isInteger(N) || N < 1)
  throw new Error(`--writes must be a positive integer, got ${flags.writes}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const tmp = tempDir('islet-bench-writes-');
  const sim = await startSimulator({ bookmarkIntervalMs: 1000 });
  const cert = await sim.mintClientCert('node-a');
  const link = join(tmp.dir, 'link.json');
  const proxy = await startProxy([
    ...['--server', sim.url, '--ca', sim.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
    ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--cache', join(tmp.dir, 'cache.db')],
    ...['--link-state', link, '--probe-interval', '200ms', '--probe-timeout', '500ms'],
    ...['--offline-after', '2', '--online-after', '2', '--log-level', 'warn'],
  ]);
  const state = () => {
    try {
      return (JSON.parse(readFileSync(link, 'utf8')) as { state: string }).state;
    } catch {
      return 'unknown';
    }
  };
  try {
    sim.create('nodes', {
      metadata: { name: 'node-a' },
      status: {
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }],
      },
    });
    sim.create('pods', {
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Running' },
    });
    for (const path of ['/api/v1/nodes/node-a', '/api/v1/namespaces/default/pods/web-1']) {
      if ((await fetch(`${proxy.url}${path}`)).status !== 200) throw new Error(`could not cache ${path}`);
    }

    const patch = async (path: string, body: unknown): Promise<number> => {
      const t0 = performance.now();
      const r = await fetch(`${proxy.url}${path}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/strategic-merge-patch+json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`PATCH ${path}: ${r.status}`);
      return performance.now() - t0;
    };
    const heartbeat = (i: number) =>
      patch('/api/v1/nodes/node-a/status', {
        status: {
          '$setElementOrder/conditions': [{ type: 'Ready' }],
          conditions: [
            { type: 'Ready', status: 'True', lastHeartbeatTime: new Date(Date.now() + i).toISOString() },
          ],
        },
      });
    const podStatus = (i: number) =>
      patch('/api/v1/namespaces/default/pods/web-1/status', {
        status: { conditions: [{ type: 'Ready', status: i % 2 ? 'True' : 'False' }] },
      });
    const round = async (): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < N; i++) ms.push(await heartbeat(i), await podStatus(i));
      return ms;
    };
    const upstreamWrites = () =>
      sim.requests.filter((r) => ['update', 'patch'].includes(r.verb) && r.subresource === 'status').length;

    sim.resetCounters();
    const online = await round();
    const onlineUpstream = upstreamWrites();

    await sim.partition('refuse');
    await eventually('offline', state, (s) => s === 'offline');
    const offline = await round();
    sim.resetCounters();
    const t0 = performance.now();
    await sim.heal();
    await eventually('online', state, (s) => s === 'online');
    const metrics = async () => (await (await fetch(`${proxy.adminUrl}/metrics`)).text()).split('\n');
    await eventually(
      'queue replayed',
      metrics,
      (lines) => lines.some((l) => l === 'islet_writes_queued 0'),
      60_000,
    );
    const replayMs = performance.now() - t0;
    const replayUpstream = upstreamWrites();
    const lastHeartbeat = (
      sim.get('nodes', 'node-a') as unknown as { status: { conditions: { lastHeartbeatTime: string }[] } }
    ).status.conditions[0]!.lastHeartbeatTime;

    const mOn = median(online);
    const mOff = median(offline);
    console.log(`writes per phase: ${2 * N} (${N} node-status + ${N} pod-status strategic merge patches)`);
    console.log(
      `median latency  online (passthrough): ${mOn.toFixed(2)} ms   offline (local, queued): ${mOff.toFixed(2)} ms   ratio offline/online: ${(mOff / mOn).toFixed(2)}`,
    );
    console.log(
      `upstream status writes  online: ${onlineUpstream}   replay after the outage: ${replayUpstream}   ratio: ${(replayUpstream / onlineUpstream).toFixed(4)}`,
    );
    console.log(
      `replay finished ${replayMs.toFixed(0)} ms after heal (includes --online-after probes); newest heartbeat upstream: ${lastHeartbeat}`,
    );
  } finally {
    await proxy.stop();
    await sim.close();
    tmp.cleanup();
  }
}

await main();
