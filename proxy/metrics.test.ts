import { describe, expect, it } from 'vitest';
import {
  collectCacheStats,
  createProxyMetrics,
  MAX_SERIES_PER_METRIC,
  MetricsRegistry,
  resourceLabel,
} from './metrics.js';
import { parseRequestInfo } from './request-info.js';

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

  it('renders a histogram with tens of thousands of series without overflowing the stack', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('islet_test_seconds', 'Test.', ['resource']);
    h.maxSeries = 50_000;
    for (let i = 0; i < 20_000; i++) h.observe({ resource: `r${i}` }, 0.01);
    const text = r.exposition();
    expect(text.split('\n').filter((l) => l.startsWith('islet_test_seconds_count{')).length).toBe(20_000);
  });

  it('folds label sets past the per-metric cap into one overflow series', () => {
    const m = createProxyMetrics();
    const extra = 500;
    for (let i = 0; i < MAX_SERIES_PER_METRIC + extra; i++) {
      m.requests.inc({ verb: 'get', resource: `r${i}`, code: '200', served_from: 'upstream' });
      m.requestDuration.observe({ verb: 'get', resource: `r${i}`, served_from: 'upstream' }, 0.01);
    }
    const text = m.registry.exposition();
    const counted = text.split('\n').filter((l) => l.startsWith('islet_proxy_requests_total{'));
    expect(counted.length).toBe(MAX_SERIES_PER_METRIC + 1);
    expect(text).toContain(
      `islet_proxy_requests_total{verb="overflow",resource="overflow",code="overflow",served_from="overflow"} ${extra}`,
    );
    expect(
      text.split('\n').filter((l) => l.startsWith('islet_proxy_request_duration_seconds_count{')).length,
    ).toBe(MAX_SERIES_PER_METRIC + 1);
    expect(text).toContain(
      `islet_metrics_series_overflow_total{metric="islet_proxy_requests_total"} ${extra}`,
    );
    // Label sets already held keep counting in their own series.
    m.requests.inc({ verb: 'get', resource: 'r0', code: '200', served_from: 'upstream' });
    expect(m.requests.get({ verb: 'get', resource: 'r0', code: '200', served_from: 'upstream' })).toBe(2);
  });

  it('labels resources it does not know as other', () => {
    expect(resourceLabel(parseRequestInfo('GET', '/api/v1/namespaces/default/pods'))).toBe('pods');
    expect(resourceLabel(parseRequestInfo('GET', '/apis/apps/v1/deployments'))).toBe('deployments');
    expect(resourceLabel(parseRequestInfo('GET', '/apis/g17.example/v1/r17'))).toBe('other');
    // A known resource name under a made-up group is not the known resource.
    expect(resourceLabel(parseRequestInfo('GET', '/apis/g.example/v1/pods'))).toBe('other');
    expect(resourceLabel(parseRequestInfo('GET', '/version'))).toBe('nonresource');
  });
});
