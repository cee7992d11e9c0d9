import http from 'node:http';
import { exposureContentType, type ProxyMetrics } from './metrics.js';
import type { ApiServerPool } from './upstream/pool.js';

/**
 * The admin listener: /metrics (Prometheus text), /healthz (the process serves), /readyz (the link
 * to the cloud is online: 200, offline: 503, with the upstreams' health as JSON).
 */
export interface AdminOptions {
  pool: ApiServerPool;
  metrics: ProxyMetrics;
}

/** Keeps the upstream and link gauges fresh at each scrape. */
export function collectUpstreamStats(pool: ApiServerPool, metrics: ProxyMetrics): void {
  const rtt = metrics.registry.gauge('islet_upstream_rtt_seconds', 'Smoothed probe round-trip time.', [
    'upstream',
  ]);
  const failures = metrics.registry.gauge(
    'islet_upstream_failures',
    'Transport failures of requests and probes to an upstream since start.',
    ['upstream'],
  );
  const transitions = metrics.registry.gauge(
    'islet_link_transitions',
    'Online/offline transitions of the link since start.',
  );
  metrics.upstreamHealthy.onCollect(() => {
    metrics.upstreamHealthy.reset();
    rtt.reset();
    failures.reset();
    for (const u of pool.status()) {
      metrics.upstreamHealthy.set({ upstream: u.url }, u.healthy ? 1 : 0);
      if (u.rttMs !== undefined) rtt.set({ upstream: u.url }, u.rttMs / 1000);
      failures.set({ upstream: u.url }, u.failures + u.probeFailures);
    }
  });
  const rss = metrics.registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const heap = metrics.registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.');
  rss.onCollect(() => {
    const m = process.memoryUsage();
    rss.set({}, m.rss);
    heap.set({}, m.heapUsed);
  });
  metrics.linkOnline.onCollect(() => {
    metrics.linkOnline.set({}, pool.isOnline() ? 1 : 0);
    transitions.set({}, pool.transitions);
  });
}

export function createAdminServer(opts: AdminOptions): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': exposureContentType }).end(opts.metrics.registry.exposition());
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const online = opts.pool.isOnline();
      const body = JSON.stringify({
        link: online ? 'online' : 'offline',
        upstream: opts.pool.currentUpstream(),
        upstreams: opts.pool.status(),
      });
      res.writeHead(online ? 200 : 503, { 'content-type': 'application/json' }).end(`${body}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}
