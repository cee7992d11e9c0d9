/**
 * Proxy benchmark (latency, throughput, memory), one run against the simulator on loopback:
 *   - GET one pod, LIST 100 and LIST 1,000 pods: p50/p99 latency and throughput, directly against
 *     the simulator and through `dist/islet proxy`, with the ratio (baseline measured in the same run);
 *   - offline LIST of 1,000 pods (upstream cut, answered from the cache);
 *   - proxy RSS idle and after caching 10,000 pods, split into anonymous memory (what the proxy
 *     allocates) and file pages (the executable's code and data). The file part depends on the page
 *     cache: right after a build or install every page of the 90 MB binary is cached, and the
 *     kernel's fault-around maps cached neighbours of each page the process touches (clean,
 *     reclaimable, but counted in RSS). So RSS is measured twice: on a freshly written copy ("as
 *     installed") and on a copy whose page cache was dropped ("steady": only what the proxy reads).
 * Run: npm run bench:proxy   (builds dist/islet first)
 * ISLET_BENCH_BINARY=/path/to/islet measures another build instead (before/after comparisons).
 *
 * ISLET_BENCH_REAL=1 uses a real etcd + kube-apiserver (test/k8s/control-plane.ts) as the upstream
 * instead: the admin creates 1,000 pods bound to edge-1, the node identity LISTs them with
 * fieldSelector=spec.nodeName=edge-1 (and GETs one) directly through the WAN relay and through the
 * proxy, then the proxy answers the LIST offline; printed as ratios against the real server
 * answering the same requests online in the same run (target: offline LIST ≤ 1× the real server).
 *
 * ISLET_BENCH_REAL=memory: proxy RSS against the real server, idle and with 10,000 pods (on
 * edge-1) + 10,000 EndpointSlices cached (each LISTed once through the proxy; upstream identity
 * admin, since the node may not list EndpointSlices),
 * on a private copy of the binary whose page cache was dropped (targets: ≤ 50 MB idle, ≤ 100 MB
 * loaded).
 *
 * Child processes (proxy, forwarder) get the environment without NODE_EXTRA_CA_CERTS/NODE_OPTIONS,
 * so a CA bundle in the caller's environment is parsed by neither the baselines nor the subject.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { isletBinary } from '../../test/islet-binary.js';
import { controlPlaneMissing, NODE_NAME, startControlPlane } from '../../test/k8s/control-plane.js';
import {
  eventually,
  httpJson,
  localArgs,
  metric,
  startProxy,
  tempDir,
  upstreamArgs,
} from '../../test/proxy/harness.js';
import { startSimulator } from '../../test/sim/index.js';

// Neither the subject nor the baselines parse a CA bundle or preload anything at start-up.
delete process.env.NODE_EXTRA_CA_CERTS;
delete process.env.NODE_OPTIONS;

interface Target {
  name: string;
  base: string;
  agent: http.Agent;
}

function request(t: Target, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, t.base);
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { agent: t.agent, headers: { accept: 'application/json' } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${path}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(t: Target, path: string, n: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(20, n); i++) await request(t, path); // warm-up (connections, JIT, cache)
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await request(t, path);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/**
 * Latency of several targets for one path, interleaved (each round asks every target once, in a
 * rotating order), so load on this shared machine hits them alike and the differences between
 * their percentiles are what the proxy adds, not what the machine did meanwhile.
 */
async function latencies(
  targets: Target[],
  path: string,
  n: number,
): Promise<{ p50: number; p99: number }[]> {
  for (const t of targets) for (let i = 0; i < Math.min(20, n); i++) await request(t, path); // warm-up
  const samples: number[][] = targets.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < targets.length; k++) {
      const j = (i + k) % targets.length;
      const start = process.hrtime.bigint();
      await request(targets[j]!, path);
      samples[j]!.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return samples.map((xs) => {
    xs.sort((a, b) => a - b);
    return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
  });
}

async function throughput(t: Target, path: string, total: number, concurrency = 8): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        await request(t, path);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return total / seconds;
}

interface Rss {
  total: number;
  anon: number;
  file: number;
}

function rssMb(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 'NaN') / 1024;
  return { total: mb('VmRSS'), anon: mb('RssAnon'), file: mb('RssFile') + mb('RssShmem') };
}

const rssText = (r: Rss) => `${r.total.toFixed(1)} MB (anon ${r.anon.toFixed(1)}, file ${r.file.toFixed(1)})`;

/** Drops a file's pages from the page cache (GNU dd: posix_fadvise DONTNEED on the whole file). */
function dropPageCache(path: string): void {
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

const fmt = (n: number) => n.toFixed(2);

/**
 * The baseline for "what does one more process cost here": a bare keep-alive HTTP→HTTPS forwarder
 * (no parsing, no cache), as a child process like the proxy.
 */
const FORWARDER = `
const http = require('node:http'), https = require('node:https');
const [target, ca, cert, key] = JSON.parse(process.env.FWD);
const agent = new https.Agent({ keepAlive: true, ca, cert, key });
const u = new URL(target);
http.createServer((req, res) => {
  const up = https.request({ hostname: u.hostname, port: u.port, path: req.url, method: req.method, headers: { ...req.headers, host: u.host }, agent }, (r) => {
    res.writeHead(r.statusCode, r.headers); r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });
`;

async function startForwarder(target: string, ca: string, cert: string, key: string) {
  const proc = spawn(process.execPath, ['-e', FORWARDER], {
    env: { ...process.env, FWD: JSON.stringify([target, ca, cert, key]) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve) =>
    proc.stdout.once('data', (c: Buffer) => resolve(c.toString().trim())),
  );
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** Runs `fn` on `items` with `width` of them in flight at a time. */
async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function realServer(): Promise<void> {
  const missing = controlPlaneMissing();
  if (missing) throw new Error(missing);
  const tmp = tempDir('islet-bench-real-');
  const cp = await startControlPlane();
  try {
    const ns = 'bench-real';
    await cp.ensureNamespace(ns);
    const pods = Array.from({ length: 1000 }, (_, i) => i);
    await inParallel(pods, 16, async (i) => {
      await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 10}` } },
        spec: {
          nodeName: NODE_NAME,
          containers: [
            { name: 'main', image: 'registry.example/app:1.0', resources: { requests: { cpu: '100m' } } },
          ],
        },
      });
    });
    const proxy = await startProxy(
      [
        '--server',
        cp.url,
        '--ca',
        cp.caPath,
        '--cert',
        cp.nodeCert.certPath,
        '--key',
        cp.nodeCert.keyPath,
        ...localArgs(tmp.dir),
        '--probe-interval',
        '500ms',
        '--offline-after',
        '2',
        '--log-level',
        'warn',
      ],
      30_000,
      process.env.ISLET_BENCH_BINARY || isletBinary,
    );
    const direct: Target = {
      name: 'direct',
      base: cp.url,
      agent: new https.Agent({
        keepAlive: true,
        ca: readFileSync(cp.caPath),
        cert: cp.nodeCert.certPem,
        key: cp.nodeCert.keyPem,
      }),
    };
    const viaProxy: Target = { name: 'proxy', base: proxy.url, agent: new http.Agent({ keepAlive: true }) };
    const list = `/api/v1/pods?fieldSelector=spec.nodeName%3D${NODE_NAME}`;
    const get = `/api/v1/namespaces/${ns}/pods/pod-7`;
    const cachedItems = async () => {
      const r = await httpJson(`${proxy.url}${list}`, { headers: { accept: 'application/json' } });
      return ((r.body as { items?: unknown[] } | undefined)?.items ?? []).length;
    };
    const rows: string[] = [
      `real kube-apiserver upstream (through the WAN relay), 1,000 pods on ${NODE_NAME}, node identity`,
      'case                         | direct p50/p99 ms | proxy p50/p99 ms | added p50/p99 ms | proxy/direct p50',
    ];
    for (const [name, path, n] of [
      ['GET pod', get, 300],
      ['LIST 1,000 pods (selector)', list, 60],
    ] as const) {
      const [d, p] = (await latencies([direct, viaProxy], path, n)) as [
        { p50: number; p99: number },
        { p50: number; p99: number },
      ];
      rows.push(
        `${name.padEnd(28)} | ${fmt(d.p50)}/${fmt(d.p99)} | ${fmt(p.p50)}/${fmt(p.p99)} | ` +
          `${fmt(p.p50 - d.p50)}/${fmt(p.p99 - d.p99)} | ${(p.p50 / d.p50).toFixed(2)}×`,
      );
    }
    const online = await latency(direct, list, 60);
    await cp.partition('refuse');
    await eventually(
      'proxy offline',
      async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
      (s) => s === 503,
    );
    const served = await cachedItems();
    const offline = await latency(viaProxy, list, 60);
    await cp.heal();
    const again = await latency(direct, list, 60);
    // The real server's figure: its median before and after the offline run, to damp drift.
    const real = (online.p50 + again.p50) / 2;
    rows.push(
      `offline LIST (${served} pods from the cache): p50 ${fmt(offline.p50)} ms, p99 ${fmt(offline.p99)} ms; ` +
        `real server online p50 ${fmt(online.p50)} / ${fmt(again.p50)} ms (before/after)`,
      `offline LIST / real server online LIST (p50): ${(offline.p50 / real).toFixed(2)}× (target ≤ 1×)`,
      `load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    console.log(rows.join('\n'));
    direct.agent.destroy();
    viaProxy.agent.destroy();
    await proxy.stop();
  } finally {
    await cp.close();
    tmp.cleanup();
  }
}

async function realServerMemory(): Promise<void> {
  const missing = controlPlaneMissing();
  if (missing) throw new Error(missing);
  const tmp = tempDir('islet-bench-realmem-');
  const cp = await startControlPlane();
  try {
    const ns = 'bench-mem';
    await cp.ensureNamespace(ns);
    const binary = join(tmp.dir, 'islet');
    copyFileSync(process.env.ISLET_BENCH_BINARY || isletBinary, binary);
    dropPageCache(binary);
    const proxy = await startProxy(
      [
        '--server',
        cp.url,
        '--ca',
        cp.caPath,
        // The admin identity: the node may not LIST EndpointSlices (403, as a kubelet is refused);
        // what is measured is the memory of the cached objects, not who may read them.
        '--cert',
        cp.adminCert.certPath,
        '--key',
        cp.adminCert.keyPath,
        ...localArgs(tmp.dir),
        '--log-level',
        'warn',
      ],
      30_000,
      binary,
    );
    const pid = proxy.proc.pid!;
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(pid);
    const n = Number(process.env.ISLET_BENCH_OBJECTS ?? 10_000);
    const started = Date.now();
    await inParallel(
      Array.from({ length: n }, (_, i) => i),
      16,
      async (i) => {
        await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 10}` } },
          spec: {
            nodeName: NODE_NAME,
            containers: [
              { name: 'main', image: 'registry.example/app:1.0', resources: { requests: { cpu: '100m' } } },
            ],
          },
        });
        await cp.admin.ok('POST', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: `svc-${i}-abcde`,
            namespace: ns,
            labels: { 'kubernetes.io/service-name': `svc-${i}` },
          },
          addressType: 'IPv4',
          endpoints: [
            { addresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`], nodeName: NODE_NAME },
          ],
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        });
      },
    );
    const createdS = (Date.now() - started) / 1000;
    const viaProxy: Target = { name: 'proxy', base: proxy.url, agent: new http.Agent({ keepAlive: true }) };
    await request(viaProxy, `/api/v1/pods?fieldSelector=spec.nodeName%3D${NODE_NAME}`);
    await request(viaProxy, '/apis/discovery.k8s.io/v1/endpointslices');
    for (const resource of ['pods', 'discovery.k8s.io/endpointslices']) {
      await eventually(
        `${n} ${resource} cached`,
        () => metric(proxy.adminUrl, `islet_cache_objects{resource="${resource}"}`),
        (c) => c >= n,
        120_000,
      );
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const loaded = rssMb(pid);
    const heapMb = (await metric(proxy.adminUrl, 'nodejs_heap_used_bytes')) / 1048576;
    console.log(
      [
        `real kube-apiserver upstream, admin identity; ${n} pods + ${n} EndpointSlices created in ${createdS.toFixed(0)} s`,
        `proxy RSS idle (binary's page cache dropped): ${rssText(idle)} (target ≤ 50 MB)`,
        `proxy RSS with ${n} pods + ${n} EndpointSlices cached: ${rssText(loaded)} (target ≤ 100 MB); V8 heap in use ${heapMb.toFixed(1)} MB`,
        `load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      ].join('\n'),
    );
    viaProxy.agent.destroy();
    await proxy.stop();
  } finally {
    await cp.close();
    tmp.cleanup();
  }
}

async function main(): Promise<void> {
  if (process.env.ISLET_BENCH_REAL === '1') return realServer();
  if (process.env.ISLET_BENCH_REAL === 'memory') return realServerMemory();
  const tmp = tempDir('islet-bench-proxy-');
  const sim = await startSimulator({ requestLogLimit: 1000 });
  const cert = await sim.mintClientCert('bench-node');
  const podFor = (ns: string, i: number) => ({
    metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 10}` } },
    spec: {
      nodeName: `node-${i % 4}`,
      containers: [
        { name: 'main', image: 'registry.example/app:1.0', resources: { requests: { cpu: '100m' } } },
      ],
    },
    status: { phase: 'Running', podIP: `10.244.${(i >> 8) & 255}.${i & 255}` },
  });
  for (let i = 0; i < 100; i++) sim.create('pods', podFor('bench-100', i));
  for (let i = 0; i < 1000; i++) sim.create('pods', podFor('bench-1000', i));

  const args = (dir: string) => [
    ...upstreamArgs(sim, cert),
    ...localArgs(dir),
    '--probe-interval',
    '500ms',
    '--offline-after',
    '2',
    '--log-level',
    'warn',
  ];
  // A private copy of the binary, so that dropping its page cache disturbs no one else.
  const binary = join(tmp.dir, 'islet');
  copyFileSync(process.env.ISLET_BENCH_BINARY || isletBinary, binary);
  const fresh = await startProxy(args(join(tmp.dir, 'fresh')), 30_000, binary);
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdleInstalled = rssMb(fresh.proc.pid!);
  await fresh.stop();
  dropPageCache(binary);
  const proxy = await startProxy(args(tmp.dir), 30_000, binary);
  const pid = proxy.proc.pid!;
  const forwarder = await startForwarder(sim.url, sim.caPem, cert.certPem, cert.keyPem);
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdle = rssMb(pid);

  const direct: Target = {
    name: 'direct',
    base: sim.url,
    agent: new https.Agent({
      keepAlive: true,
      ca: sim.caPem,
      cert: cert.certPem,
      key: cert.keyPem,
    }),
  };
  const viaProxy: Target = { name: 'proxy', base: proxy.url, agent: new http.Agent({ keepAlive: true }) };
  const viaForwarder: Target = {
    name: 'hop',
    base: forwarder.url,
    agent: new http.Agent({ keepAlive: true }),
  };

  // RSS first, on a proxy that has served nothing else: idle, then with 10,000 pods cached (one
  // LIST through the proxy, write queue drained, collector given time).
  for (let i = 0; i < 10_000; i++) sim.create('pods', podFor('bench-10k', i));
  await request(viaProxy, '/api/v1/namespaces/bench-10k/pods');
  await eventually(
    '10,000 pods cached',
    () => metric(proxy.adminUrl, 'islet_cache_objects{resource="pods"}'),
    (n) => n >= 10_000,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 5_000));
  const rss10k = rssMb(pid);
  const heapMb = (await metric(proxy.adminUrl, 'nodejs_heap_used_bytes')) / 1048576;

  const cases: [string, string, number, number][] = [
    ['GET pod', '/api/v1/namespaces/bench-100/pods/pod-7', 1000, 2000],
    ['LIST 100 pods', '/api/v1/namespaces/bench-100/pods', 300, 400],
    ['LIST 1,000 pods', '/api/v1/namespaces/bench-1000/pods', 100, 100],
  ];
  const rows: string[] = [
    `proxy RSS idle, as installed (binary just written): ${rssText(rssIdleInstalled)}`,
    `proxy RSS idle, steady (binary's page cache dropped): ${rssText(rssIdle)}`,
    `proxy RSS with 10,000 cached pods (steady): ${rssText(rss10k)}; V8 heap in use ${heapMb.toFixed(1)} MB`,
  ];
  rows.push(
    'latency p50/p99 ms (direct, hop and proxy interleaved) and throughput req/s (8 concurrent); "hop" = a bare keep-alive forwarder process (the cost of any extra process on this machine)',
    'case               | direct        | hop           | proxy         | proxy-direct p50/p99 | proxy-hop p50/p99 | req/s direct/hop/proxy | proxy/direct',
  );
  for (const [name, path, n, total] of cases) {
    const [d, h, p] = (await latencies([direct, viaForwarder, viaProxy], path, n)) as [
      { p50: number; p99: number },
      { p50: number; p99: number },
      { p50: number; p99: number },
    ];
    const dt = await throughput(direct, path, total);
    const ht = await throughput(viaForwarder, path, total);
    const pt = await throughput(viaProxy, path, total);
    rows.push(
      `${name.padEnd(18)} | ${fmt(d.p50)}/${fmt(d.p99)} | ${fmt(h.p50)}/${fmt(h.p99)} | ${fmt(p.p50)}/${fmt(p.p99)} | ` +
        `${fmt(p.p50 - d.p50)}/${fmt(p.p99 - d.p99)} | ${fmt(p.p50 - h.p50)}/${fmt(p.p99 - h.p99)} | ` +
        `${dt.toFixed(0)}/${ht.toFixed(0)}/${pt.toFixed(0)} | ${(pt / dt).toFixed(2)}`,
    );
  }
  rows.push(
    `load average during the run: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );

  // Offline: the same LIST answered from the cache.
  await sim.partition('refuse');
  await eventually(
    'proxy offline',
    async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
    (s) => s === 503,
  );
  const offline = await latency(viaProxy, '/api/v1/namespaces/bench-1000/pods', 100);
  rows.push(`offline LIST 1,000 pods (cache): p50 ${fmt(offline.p50)} ms, p99 ${fmt(offline.p99)} ms`);
  await sim.heal();
  await eventually(
    'proxy online',
    async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
    (s) => s === 200,
  );

  console.log(rows.join('\n'));
  forwarder.proc.kill('SIGTERM');
  direct.agent.destroy();
  viaProxy.agent.destroy();
  await proxy.stop();
  await sim.close();
  tmp.cleanup();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
