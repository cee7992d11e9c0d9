/**
 * Informers starting through a fresh proxy (issue 10 item 12's load): per round a new simulator
 * with N pods, a new `dist/islet proxy` in front of it (the reconnect bench's link flags, debug
 * logs), and I client-node pod informers restarted 1 s after an error as controllers do. Measured:
 * how long until every informer holds every pod, their LISTs, and the upstream watches open on the
 * simulator after --wait. A round with no upstream watch or a relisting informer keeps the proxy's
 * debug log in --log-dir.
 *
 * Knobs that stage the start-up races: --latency MS delays every simulator answer for the first
 * --latency-for MS after the proxy listens (its first probe round already ran under it), so the
 * first probe can miss --probe-timeout; --churn patches and creates pods every 15 ms while the
 * informers start (each lists at another version); --default-probes runs the proxy with its own
 * probe defaults (5 s, 2 s, 3/2) instead of the bench's (500 ms, 1 s, 3/2). --baseline BINARY
 * runs another build in the same rounds, interleaved; the sync times are compared as a ratio.
 *
 *   npm run bench:startup
 *   npm run bench:startup -- --rounds 3 --latency 2500 --latency-for 500 --default-probes --wait 15 \
 *     --baseline /path/to/older/islet
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseFlags } from '../../lib/args.js';
import { isletBinary } from '../../test/islet-binary.js';
import { clientNodeConfig, startProxy, tempDir } from '../../test/proxy/harness.js';
import { startSimulator } from '../../test/sim/index.js';
import { ensureBuilt, interleave, loadAverage, runBench } from './harness.js';
import { median } from './stats.js';

const NS = 'bench';

interface Round {
  /** ms from the proxy's start until every informer held every pod; -1 if not within --wait. */
  syncedMs: number;
  upstreamWatches: number;
  lists: number[];
}

interface Options {
  pods: number;
  informers: number;
  waitMs: number;
  latencyMs: number;
  latencyForMs: number;
  churn: boolean;
  defaultProbes: boolean;
  logDir: string;
}

function podObject(name: string, labels: Record<string, string> = {}) {
  return {
    metadata: { name, namespace: NS, labels: { app: name.slice(0, 6), ...labels } },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'registry.example/app:1.0' }] },
  };
}

async function round(binary: string, tag: string, o: Options): Promise<Round> {
  const tmp = tempDir('islet-bench-startup-');
  const sim = await startSimulator({ bookmarkIntervalMs: 1000 });
  const timers: NodeJS.Timeout[] = [];
  const informers: { lw: k8s.ListWatch<k8s.KubernetesObject>; lists: number; stopped: boolean }[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    const cert = await sim.mintClientCert('node-a');
    for (let i = 0; i < o.pods; i++) sim.create('pods', podObject(`obj-${i}`));
    sim.setLatency(o.latencyMs);
    const t0 = Date.now();
    proxy = await startProxy(
      [
        ...['--server', sim.url, '--ca', sim.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
        ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--cache', join(tmp.dir, 'cache.db')],
        ...['--link-state', join(tmp.dir, 'link.json'), '--log-level', 'debug'],
        ...(o.defaultProbes
          ? []
          : [
              '--probe-interval',
              '500ms',
              '--probe-timeout',
              '1s',
              '--offline-after',
              '3',
              '--online-after',
              '2',
            ]),
      ],
      30_000,
      binary,
    );
    timers.push(setTimeout(() => sim.setLatency(0), o.latencyForMs));
    const kc = clientNodeConfig(proxy.url);
    for (let i = 0; i < o.informers; i++) {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const inf = {
        lw: undefined as unknown as k8s.ListWatch<k8s.KubernetesObject>,
        lists: 0,
        stopped: false,
      };
      inf.lw = k8s.makeInformer(kc, '/api/v1/pods', () => {
        inf.lists++;
        return core.listPodForAllNamespaces() as never;
      }) as unknown as k8s.ListWatch<k8s.KubernetesObject>;
      inf.lw.on('error', () => {
        if (!inf.stopped) timers.push(setTimeout(() => void inf.lw.start().catch(() => {}), 1000));
      });
      informers.push(inf);
    }
    if (o.churn) {
      let n = 0;
      timers.push(
        setInterval(() => {
          n++;
          sim.patch(
            'pods',
            `obj-${n % o.pods}`,
            { metadata: { labels: { rev: String(n) } } },
            { namespace: NS },
          );
          if (n % 3 === 0) sim.create('pods', podObject(`churn-${n}`));
        }, 15),
      );
    }
    const truth = () => sim.list('pods').items.length;
    let syncedMs = -1;
    timers.push(
      setInterval(() => {
        if (syncedMs < 0 && informers.every((i) => i.lw.list().length >= Math.min(o.pods, truth())))
          syncedMs = Date.now() - t0;
      }, 20),
    );
    await Promise.all(informers.map((i) => i.lw.start().catch(() => {})));
    await new Promise((r) => setTimeout(r, o.waitMs));
    const result: Round = {
      syncedMs,
      upstreamWatches: sim.watchCount({ resource: 'pods' }).open,
      lists: informers.map((i) => i.lists),
    };
    if (result.upstreamWatches === 0 || result.lists.some((n) => n > 1)) {
      mkdirSync(o.logDir, { recursive: true });
      const file = join(o.logDir, `startup-${tag}-${Date.now()}.log`);
      writeFileSync(file, `${JSON.stringify(result)}\n${proxy.logs.join('\n')}\n`);
    }
    return result;
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const i of informers) {
      i.stopped = true;
      await i.lw.stop();
    }
    await proxy?.stop();
    await sim.close();
    tmp.cleanup();
  }
}

async function main(): Promise<number> {
  const { flags } = parseFlags(process.argv.slice(2), {
    rounds: { type: 'string', default: '10' },
    pods: { type: 'string', default: '200' },
    informers: { type: 'string', default: '5' },
    wait: { type: 'string', default: '8' },
    latency: { type: 'string', default: '0' },
    'latency-for': { type: 'string', default: '0' },
    churn: { type: 'boolean', default: false },
    'default-probes': { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'log-dir': { type: 'string', default: join(tmpdir(), 'islet-bench-startup-logs') },
  });
  const num = (k: string, min = 0) => {
    const v = Number(flags[k]);
    if (!Number.isFinite(v) || v < min) throw new Error(`--${k} must be a number >= ${min}`);
    return v;
  };
  ensureBuilt();
  const o: Options = {
    pods: num('pods', 1),
    informers: num('informers', 1),
    waitMs: num('wait', 1) * 1000,
    latencyMs: num('latency'),
    latencyForMs: num('latency-for'),
    churn: flags.churn === true,
    defaultProbes: flags['default-probes'] === true,
    logDir: String(flags['log-dir']),
  };
  const binaries: Record<string, string> = { islet: isletBinary };
  if (typeof flags.baseline === 'string') binaries.baseline = flags.baseline;
  console.log(
    `start-up: ${o.informers} informers × ${o.pods} pods, ${num('rounds', 1)} rounds, upstream watches at ` +
      `${o.waitMs / 1000} s, latency ${o.latencyMs} ms for ${o.latencyForMs} ms, churn ${o.churn}, ` +
      `${o.defaultProbes ? 'default probe flags' : 'bench probe flags'}; load ${loadAverage()}`,
  );
  const results = await interleave(Object.keys(binaries), { rounds: num('rounds', 1), warmup: 0 }, (name) =>
    round(binaries[name]!, name, o),
  );
  const syncs: Record<string, number> = {};
  for (const [name, rounds] of Object.entries(results)) {
    const synced = rounds.filter((r) => r.syncedMs >= 0).map((r) => r.syncedMs);
    syncs[name] = synced.length ? median(synced) : Number.NaN;
    const lists = rounds.flatMap((r) => r.lists);
    console.log(
      `${name.padEnd(8)} rounds without an upstream watch: ${rounds.filter((r) => r.upstreamWatches === 0).length}/${rounds.length}` +
        `, not synced: ${rounds.length - synced.length}, sync median ${syncs[name]!.toFixed(0)} ms` +
        `, LISTs per informer median ${median(lists)} max ${Math.max(...lists)}`,
    );
  }
  if (binaries.baseline) {
    const ratio = syncs.baseline! / syncs.islet!;
    const shown = Number.isFinite(ratio)
      ? `${ratio.toFixed(2)}×`
      : 'n/a (a build never synced within --wait)';
    console.log(`sync time baseline / islet: ${shown}`);
  }
  console.log(`debug logs of rounds with no upstream watch or a relist: ${o.logDir}; load ${loadAverage()}`);
  return 0;
}

runBench(main);
