/**
 * Proxy benchmark (issue 3), one run against the simulator on loopback:
 *   - GET one pod, LIST 100 and LIST 1,000 pods: p50/p99 latency and throughput, directly against
 *     the simulator and through `dist/islet proxy`, with the ratio (baseline measured in the same run);
 *   - offline LIST of 1,000 pods (upstream cut, answered from the cache);
 *   - proxy RSS idle and after caching 10,000 pods.
 * Run: npm run bench:proxy   (builds dist/islet first)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { eventually, httpJson, startProxy, tempDir } from '../../test/proxy/harness.js';
import { startSimulator } from '../../test/sim/index.js';

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

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
  return kb / 1024;
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

async function main(): Promise<void> {
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

  const proxy = await startProxy([
    '--server',
    sim.url,
    '--ca',
    sim.caPath,
    '--cert',
    cert.certPath,
    '--key',
    cert.keyPath,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--cache',
    join(tmp.dir, 'cache.db'),
    '--link-state',
    join(tmp.dir, 'link.json'),
    '--probe-interval',
    '500ms',
    '--offline-after',
    '2',
    '--log-level',
    'warn',
  ]);
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
    async () => {
      const text = (await httpJson(`${proxy.adminUrl}/metrics`)).text;
      const line = text.split('\n').find((l) => l.startsWith('islet_cache_objects{resource="pods"}'));
      return Number(line?.split(' ').pop() ?? 0);
    },
    (n) => n >= 10_000,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 5_000));
  const rss10k = rssMb(pid);
  const heapMb =
    Number(
      (await httpJson(`${proxy.adminUrl}/metrics`)).text
        .split('\n')
        .find((l) => l.startsWith('nodejs_heap_used_bytes '))
        ?.split(' ')
        .pop(),
    ) / 1048576;

  const cases: [string, string, number, number][] = [
    ['GET pod', '/api/v1/namespaces/bench-100/pods/pod-7', 1000, 2000],
    ['LIST 100 pods', '/api/v1/namespaces/bench-100/pods', 300, 400],
    ['LIST 1,000 pods', '/api/v1/namespaces/bench-1000/pods', 100, 100],
  ];
  const rows: string[] = [
    `proxy RSS: idle ${rssIdle.toFixed(1)} MB; with 10,000 cached pods ${rss10k.toFixed(1)} MB (V8 heap in use ${heapMb.toFixed(1)} MB)`,
  ];
  rows.push(
    'latency p50/p99 ms and throughput req/s (8 concurrent); "hop" = a bare keep-alive forwarder process (the cost of any extra process on this machine)',
    'case               | direct        | hop           | proxy         | proxy-direct p50/p99 | proxy-hop p50/p99 | req/s direct/hop/proxy | proxy/direct',
  );
  for (const [name, path, n, total] of cases) {
    const d = await latency(direct, path, n);
    const h = await latency(viaForwarder, path, n);
    const p = await latency(viaProxy, path, n);
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
