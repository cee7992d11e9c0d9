/**
 * Watch memory: the built `dist/islet proxy` in front of the simulator, loopback only.
 *
 *   online:  N pods upstream, W watches (resourceVersion 0) with distinct label selectors — one
 *            shared watch each, so one upstream watch and one event log each — while the
 *            simulator changes pods; then every client leaves.
 *   offline: P pods cached, the link cut, V watches with distinct selectors, each getting every
 *            cached pod as its initial state from SQLite; then every client leaves.
 *
 * Printed per phase: peak RSS (VmHWM) and RSS after the clients left (once the hub released its
 * shared watches) against --memory-budget, watches admitted vs refused with 429, and the latency
 * of one GET issued while the watches were being set up (a figure, not an assert).
 *
 *   npm run bench:watch-memory
 *   npm run bench:watch-memory -- --watches 300 --offline-watches 100 --offline-pods 1000 --budget 256Mi
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseFlags } from '../../lib/args.js';
import { parseQuantity } from '../../proxy/cli.js';
import { isletBinary } from '../../test/islet-binary.js';
import { eventually, type RunningProxy, startProxy, tempDir } from '../../test/proxy/harness.js';
import { type Simulator, startSimulator } from '../../test/sim/index.js';

const NS = 'bench';

const { flags } = parseFlags(process.argv.slice(2), {
  watches: { type: 'string', default: '1000' },
  pods: { type: 'string', default: '200' },
  changes: { type: 'string', default: '200' },
  'offline-watches': { type: 'string', default: '500' },
  'offline-pods': { type: 'string', default: '5000' },
  budget: { type: 'string', default: '256Mi' },
  'per-identity': { type: 'string', default: '2000' },
  /** Another build to compare (e.g. one from before the memory bounds): run without the new flags. */
  binary: { type: 'string' },
});
const num = (name: string): number => {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 0 || v > 100_000) throw new Error(`--${name}: a whole number up to 100000`);
  return v;
};

function pod(name: string, i: number) {
  return {
    metadata: { name, namespace: NS, labels: { app: `app-${i % 10}`, tier: i % 2 ? 'web' : 'db' } },
    spec: {
      nodeName: 'node-a',
      containers: [{ name: 'c', image: 'registry.example/app:1.0', env: [{ name: 'I', value: String(i) }] }],
    },
  };
}

/** RSS now and the peak so far, of the proxy process, from /proc (kB → bytes). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function metric(proxy: RunningProxy, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function refused(proxy: RunningProxy): Promise<string> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('islet_watch_refused_total{'))
    .map((l) => `${/reason="([^"]+)"/.exec(l)?.[1]}=${l.split(' ').pop()}`)
    .join(' ');
}

/** A watch client that only counts what it reads (the bench process must not be what grows). */
interface Counted {
  status: Promise<number>;
  lines: () => number;
  close: () => void;
}

function countedWatch(base: string, path: string): Counted {
  let lines = 0;
  let req: http.ClientRequest;
  const status = new Promise<number>((resolve) => {
    req = http.get(`${base}${path}`, { agent: false, headers: { accept: 'application/json' } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.on('data', (c: Buffer) => {
        for (const b of c) if (b === 10) lines++;
      });
      res.on('error', () => {});
    });
    req.on('error', () => resolve(0));
  });
  return { status, lines: () => lines, close: () => req.destroy() };
}

/** Latency of one GET of a cached pod through the proxy, issued while the load is on. */
async function timedGet(base: string, name: string): Promise<string> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}/api/v1/namespaces/${NS}/pods/${name}`, {
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    return `${(performance.now() - t0).toFixed(0)} ms (HTTP ${res.status})`;
  } catch (err) {
    return `failed after ${(performance.now() - t0).toFixed(0)} ms (${(err as Error).name})`;
  }
}

async function proxyFor(sim: Simulator, dir: string, tag: string): Promise<RunningProxy> {
  const cert = await sim.mintClientCert('node-a');
  return startProxy(
    [
      ...['--server', sim.url, '--ca', sim.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
      ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'error'],
      ...['--cache', join(dir, `${tag}.db`), '--link-state', join(dir, `${tag}-link.json`)],
      ...['--probe-interval', '200ms', '--probe-timeout', '1s', '--offline-after', '2'],
      ...(flags.binary
        ? []
        : [
            ...[
              '--memory-budget',
              String(flags.budget),
              '--max-watches-per-identity',
              String(flags['per-identity']),
            ],
            ...['--watch-grace', '1s'],
          ]),
    ],
    30_000,
    (flags.binary as string | undefined) ?? isletBinary,
  );
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Opens the watches in bursts of 50 and returns them with their status codes. */
async function openAll(base: string, count: number, selector: (i: number) => string): Promise<Counted[]> {
  const all: Counted[] = [];
  for (let i = 0; i < count; i += 50) {
    const burst: Counted[] = [];
    for (let j = i; j < Math.min(count, i + 50); j++) {
      const q = new URLSearchParams({ watch: '1', resourceVersion: '0', labelSelector: selector(j) });
      burst.push(countedWatch(base, `/api/v1/pods?${q}`));
    }
    await Promise.all(burst.map((w) => w.status));
    all.push(...burst);
  }
  return all;
}

/** Closes every client, waits for the hub to release its keys, and returns the lowest RSS in 10 s. */
async function leave(proxy: RunningProxy, watches: Counted[]): Promise<number> {
  for (const w of watches) w.close();
  await eventually(
    'shared watches released',
    () => metric(proxy, 'islet_watch_shared'),
    (n) => n === 0,
    60_000,
  );
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    low = Math.min(low, memoryOf(proxy.proc.pid!).rss);
  }
  console.log(`${''.padEnd(8)} V8 heap after leave ${mb(await metric(proxy, 'nodejs_heap_used_bytes'))}`);
  return low;
}

async function report(
  phase: string,
  proxy: RunningProxy,
  watches: Counted[],
  peak: number,
  heap: number,
  get: string,
  after: number,
): Promise<void> {
  const codes = await Promise.all(watches.map((w) => w.status));
  const ok = codes.filter((c) => c === 200).length;
  const budget = parseQuantity(String(flags.budget), 'budget');
  console.log(
    `${phase.padEnd(8)} watches ${watches.length} (admitted ${ok}, refused: ${(await refused(proxy)) || 'none'})`,
  );
  console.log(
    `${''.padEnd(8)} peak RSS ${mb(peak)} (V8 heap then ${mb(heap)}), after leave ${mb(after)}, budget ${mb(budget)}; GET during load ${get}`,
  );
}

async function online(sim: Simulator, dir: string): Promise<void> {
  const pods = num('pods');
  for (let i = 0; i < pods; i++) sim.create('pods', pod(`p-${i}`, i));
  const proxy = await proxyFor(sim, dir, 'online');
  try {
    // One plain LIST fills a complete view; every watch then starts from the cache.
    await (await fetch(`${proxy.url}/api/v1/pods`)).arrayBuffer();
    const pid = proxy.proc.pid!;
    const load = openAll(proxy.url, num('watches'), (i) => `app,bench-w!=w${i}`);
    const get = timedGet(proxy.url, 'p-0');
    const watches = await load;
    for (let c = 0; c < num('changes'); c++) {
      sim.patch('pods', `p-${c % pods}`, { metadata: { labels: { rev: String(c) } } }, { namespace: NS });
      if (c % 50 === 49) await new Promise((r) => setTimeout(r, 100));
    }
    await eventually(
      'changes fanned out',
      () => metric(proxy, 'islet_watch_events_fanned_out_total'),
      (n) => n > 0,
      30_000,
    );
    const peak = memoryOf(pid).peak;
    const heap = await metric(proxy, 'nodejs_heap_used_bytes');
    const after = await leave(proxy, watches);
    await report('online', proxy, watches, peak, heap, await get, after);
  } finally {
    await proxy.stop();
  }
}

async function offline(sim: Simulator, dir: string): Promise<void> {
  const have = sim.list('pods', { namespace: NS }).items.length;
  for (let i = have; i < num('offline-pods'); i++) sim.create('pods', pod(`p-${i}`, i));
  const proxy = await proxyFor(sim, dir, 'offline');
  try {
    await (await fetch(`${proxy.url}/api/v1/pods`)).arrayBuffer();
    // The cache writes in the background: offline reads need the view complete.
    await eventually(
      'cache filled',
      () => metric(proxy, 'islet_cache_objects', 'resource="pods"'),
      (n) => n >= num('offline-pods'),
      60_000,
    );
    await sim.partition('refuse');
    await eventually(
      'offline',
      async () => (await fetch(`${proxy.adminUrl}/readyz`)).status,
      (s) => s === 503,
      30_000,
    );
    const pid = proxy.proc.pid!;
    const base = memoryOf(pid).rss;
    const load = openAll(proxy.url, num('offline-watches'), (i) => `app,bench-w!=w${i}`);
    const get = timedGet(proxy.url, 'p-1');
    const watches = await load;
    const peak = memoryOf(pid).peak;
    const heap = await metric(proxy, 'nodejs_heap_used_bytes');
    const lines = watches.reduce((n, w) => n + w.lines(), 0);
    const after = await leave(proxy, watches);
    await report('offline', proxy, watches, peak, heap, await get, after);
    console.log(
      `${''.padEnd(8)} RSS before the watches ${mb(base)}; initial-state lines read so far ${lines}`,
    );
  } finally {
    await proxy.stop();
    await sim.heal();
  }
}

async function main(): Promise<void> {
  const tmp = tempDir('islet-bench-watch-mem-');
  const sim = await startSimulator({ bookmarkIntervalMs: 1000 });
  try {
    if (num('watches') > 0) await online(sim, tmp.dir);
    await offline(sim, tmp.dir);
  } finally {
    await sim.close();
    tmp.cleanup();
  }
}

await main();
