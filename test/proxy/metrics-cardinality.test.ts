/**
 * Requests for made-up resources must not grow /metrics without bound: thousands of distinct
 * resources once made the next scrape fail (a stack overflow rendering the histogram).
 */
import { describe, expect, it } from 'vitest';
import { httpJson } from './harness.js';
import { proxyOnSimulator } from './suite.js';

describe('islet proxy metrics cardinality', () => {
  const rig = proxyOnSimulator({ prefix: 'islet-proxy-cardinality-', simulator: { tls: false } });

  it('answers /metrics with a bounded series count after 8,000 requests for unknown resources', async () => {
    const total = 8_200;
    let next = 0;
    const codes = new Map<number, number>();
    // A few keep-alive clients in parallel, each taking the next N until all are sent.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          const n = next++;
          const r = await fetch(`${rig.proxy.url}/apis/g${n}.example/v1/r${n}`);
          await r.arrayBuffer();
          codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
        }
      }),
    );
    expect([...codes.keys()]).toEqual([404]);

    const scrape = await httpJson(`${rig.proxy.adminUrl}/metrics`);
    expect(scrape.status).toBe(200);
    const lines = scrape.text.split('\n');
    const requestSeries = lines.filter((l) => l.startsWith('islet_proxy_requests_total{'));
    expect(requestSeries.length).toBeGreaterThan(0);
    expect(requestSeries.length).toBeLessThan(50);
    expect(requestSeries.join('\n')).toContain('resource="other"');
    const other = requestSeries.find((l) => l.includes('resource="other"') && l.includes('code="404"'));
    expect(Number(other?.split(' ').pop())).toBe(total);
    expect(
      lines.filter((l) => l.startsWith('islet_proxy_request_duration_seconds_count{')).length,
    ).toBeLessThan(50);
    expect(scrape.text).not.toContain('g1.example');
    expect(rig.proxy.proc.exitCode).toBeNull();
  });
});
