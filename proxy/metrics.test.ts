import { describe, expect, it } from 'vitest';
import { collectCacheStats, createProxyMetrics, MetricsRegistry } from './metrics.js';

describe('metrics', () => {
  it('renders counters, gauges and histograms in the text format', () => {
    const m = createProxyMetrics();
    m.requests.inc({ verb: 'list', resource: 'pods', code: '200', served_from: 'cache' });
    m.requests.inc({ verb: 'list', resource: 'pods', code: '200', served_from: 'cache' }, 2);
    m.linkOnline.set({}, 1);
    m.upstreamHealthy.set({ upstream: 'https://a"b\\c' }, 0);
    m.requestDuration.observe({ verb: 'get', resource: 'pods', served_from: 'upstream' }, 0.003);
    m.requestDuration.observe({ verb: 'get', resource: 'pods', served_from: 'upstream' }, 100);
    const text = m.registry.exposition();
    expect(text).toContain('# TYPE islet_proxy_requests_total counter');
    expect(text).toContain(
      'islet_proxy_requests_total{verb="list",resource="pods",code="200",served_from="cache"} 3',
    );
    expect(text).toContain('islet_link_online 1');
    expect(text).toContain('islet_upstream_healthy{upstream="https://a\\"b\\\\c"} 0');
    expect(text).toContain(
      'islet_proxy_request_duration_seconds_bucket{verb="get",resource="pods",served_from="upstream",le="0.0025"} 0',
    );
    expect(text).toContain(
      'islet_proxy_request_duration_seconds_bucket{verb="get",resource="pods",served_from="upstream",le="0.005"} 1',
    );
    expect(text).toContain(
      'islet_proxy_request_duration_seconds_bucket{verb="get",resource="pods",served_from="upstream",le="+Inf"} 2',
    );
    expect(text).toContain(
      'islet_proxy_request_duration_seconds_count{verb="get",resource="pods",served_from="upstream"} 2',
    );
    expect(text.endsWith('\n')).toBe(true);
  });

  it('lets others register more and shares same-shaped metrics', () => {
    const r = new MetricsRegistry();
    const a = r.counter('islet_watch_events_total', 'Events.', ['resource']);
    expect(r.counter('islet_watch_events_total', 'Events.', ['resource'])).toBe(a);
    expect(() => r.gauge('islet_watch_events_total', 'x', ['resource'])).toThrow(/already registered/);
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => a.inc({ other: 'x' })).toThrow(/takes labels/);
    expect(() => a.inc({ resource: 'pods' }, -1)).toThrow(/only goes up/);
  });

  it('collects cache stats at scrape time, forgetting vanished resources', () => {
    const m = createProxyMetrics();
    let stats = [
      { gvr: { group: '', resource: 'pods' }, objects: 3, bytes: 300 },
      { gvr: { group: 'discovery.k8s.io', resource: 'endpointslices' }, objects: 1, bytes: 50 },
    ];
    collectCacheStats(m, () => stats);
    let text = m.registry.exposition();
    expect(text).toContain('islet_cache_objects{resource="pods"} 3');
    expect(text).toContain('islet_cache_bytes{resource="discovery.k8s.io/endpointslices"} 50');
    stats = [{ gvr: { group: '', resource: 'pods' }, objects: 4, bytes: 400 }];
    text = m.registry.exposition();
    expect(text).toContain('islet_cache_objects{resource="pods"} 4');
    expect(text).not.toContain('endpointslices');
  });
});
