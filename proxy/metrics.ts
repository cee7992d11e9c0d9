/**
 * A tiny Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4). Every part of the proxy registers its own metrics on the one
 * registry the admin listener serves.
 */
import { resourceFacts } from './gvr.js';
import type { RequestInfo } from './types.js';

export type Labels = Record<string, string>;

/**
 * Distinct label sets one metric keeps before new ones fold into a single series whose every
 * label is `overflow`. A backstop: label values should be bounded where they are chosen (see
 * resourceLabel), but a scrape must never grow without bound, or fail, because of client input.
 */
export const MAX_SERIES_PER_METRIC = 2000;
export const OVERFLOW_LABEL = 'overflow';

export const exposureContentType = 'text/plain; version=0.0.4; charset=utf-8';

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  /** Label sets folded into the overflow series because the metric already had maxSeries. */
  overflowed = 0;
  maxSeries = MAX_SERIES_PER_METRIC;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!namePattern.test(name)) throw new Error(`invalid metric name "${name}"`);
    for (const l of labelNames) {
      if (!labelPattern.test(l) || l.startsWith('__'))
        throw new Error(`invalid label name "${l}" on ${name}`);
    }
  }

  /** Canonical key of a label set, validating that exactly the declared labels are given. */
  protected key(labels: Labels): string {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || this.labelNames.some((l) => !(l in labels))) {
      throw new Error(`${this.name} takes labels {${this.labelNames.join(',')}}, got {${given.join(',')}}`);
    }
    return JSON.stringify(this.labelNames.map((l) => String(labels[l])));
  }

  /** key(), or the overflow series' key when `series` is full and does not hold this label set yet. */
  protected slot(labels: Labels, series: ReadonlyMap<string, unknown>): string {
    const k = this.key(labels);
    if (series.size < this.maxSeries || series.has(k)) return k;
    this.overflowed++;
    return JSON.stringify(this.labelNames.map(() => OVERFLOW_LABEL));
  }

  protected labelText(values: string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabel(values[i] ?? '')}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return pairs.length ? `{${pairs.join(',')}}` : '';
  }

  abstract samples(): string[];

  render(): string {
    // No spread of samples() into push(): arguments live on the stack, and a metric with many
    // series has more lines than a call may take.
    const head = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}`;
    const samples = this.samples();
    return samples.length ? `${head}\n${samples.join('\n')}` : head;
  }
}

export class Counter extends Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter only goes up (inc by ${by})`);
    const k = this.slot(labels, this.values);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  samples(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${this.labelText(JSON.parse(k))} ${formatValue(v)}`);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();
  private collector: (() => void) | undefined;

  set(labels: Labels, value: number): void {
    this.values.set(this.slot(labels, this.values), value);
  }

  inc(labels: Labels = {}, by = 1): void {
    const k = this.slot(labels, this.values);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  /** Drops all label sets (a collector that re-sets every series uses this to forget stale ones). */
  reset(): void {
    this.values.clear();
  }

  /** Called before each exposition, for values that are cheaper to read than to track. */
  onCollect(fn: () => void): void {
    this.collector = fn;
  }

  samples(): string[] {
    this.collector?.();
    return [...this.values].map(([k, v]) => `${this.name}${this.labelText(JSON.parse(k))} ${formatValue(v)}`);
  }
}

export const defaultBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

export class Histogram extends Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    if (labelNames.includes('le')) throw new Error(`${name}: "le" is reserved for histogram buckets`);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new Error(`${name}: buckets must be distinct finite numbers`);
    }
    this.buckets = sorted;
  }

  observe(labels: Labels, value: number): void {
    const k = this.slot(labels, this.series);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Starts a timer; calling the result observes the elapsed seconds. */
  startTimer(labels: Labels): (more?: Labels) => number {
    const start = process.hrtime.bigint();
    return (more) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe({ ...labels, ...more }, seconds);
      return seconds;
    };
  }

  count(labels: Labels = {}): number {
    return this.series.get(this.key(labels))?.count ?? 0;
  }

  samples(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const values = JSON.parse(k) as string[];
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${this.labelText(values, ['le', formatValue(b)])} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket${this.labelText(values, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${this.labelText(values)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${this.labelText(values)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(name, () => new Counter(name, help, labelNames), 'counter', labelNames);
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(name, () => new Gauge(name, help, labelNames), 'gauge', labelNames);
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = defaultBuckets,
  ): Histogram {
    return this.register(name, () => new Histogram(name, help, labelNames, buckets), 'histogram', labelNames);
  }

  get(name: string): Metric | undefined {
    return this.metrics.get(name);
  }

  /** The text exposition format, metrics in registration order. */
  exposition(): string {
    const parts = [...this.metrics.values()].map((m) => m.render());
    const overflowed = [...this.metrics.values()].filter((m) => m.overflowed > 0);
    if (overflowed.length > 0) {
      // Rendered, not registered: it counts the registry's own bookkeeping.
      const name = 'islet_metrics_series_overflow_total';
      parts.push(
        [
          `# HELP ${name} Label sets folded into the overflow series of a metric that had too many.`,
          `# TYPE ${name} counter`,
          ...overflowed.map((m) => `${name}{metric="${m.name}"} ${m.overflowed}`),
        ].join('\n'),
      );
    }
    return parts.length ? `${parts.join('\n')}\n` : '';
  }

  /**
   * Registering the same name twice returns the existing metric when type and labels agree, so
   * two parts may share one (e.g. request counters), and fails loudly when they do not.
   */
  private register<M extends Metric>(
    name: string,
    make: () => M,
    type: Metric['type'],
    labelNames: readonly string[],
  ): M {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type || existing.labelNames.join(',') !== labelNames.join(',')) {
        throw new Error(
          `metric ${name} already registered as ${existing.type}{${existing.labelNames.join(',')}}`,
        );
      }
      return existing as M;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }
}

/**
 * The `resource` label of a request: the resource when the proxy knows it (built in, or learned
 * from discovery), `other` for anything else, so made-up paths cannot add series without bound.
 */
export function resourceLabel(info: RequestInfo): string {
  if (!info.isResourceRequest) return 'nonresource';
  return resourceFacts(info) ? info.resource : 'other';
}

/** The proxy's own metrics, named as the README documents them. */
export interface ProxyMetrics {
  registry: MetricsRegistry;
  /** verb, resource, code, served_from ('upstream' | 'cache' | 'local' | 'proxy') */
  requests: Counter;
  /** verb, resource, served_from */
  requestDuration: Histogram;
  /** upstream (URL): 1 healthy, 0 not */
  upstreamHealthy: Gauge;
  /** 1 online, 0 offline */
  linkOnline: Gauge;
  /** resource (group/resource as "pods" or "apps/deployments") */
  cacheObjects: Gauge;
  cacheBytes: Gauge;
  /** phase ('open' | 'runtime'): damaged cache files set aside for empty ones */
  cacheCorrupt: Counter;
}

export function createProxyMetrics(registry: MetricsRegistry = new MetricsRegistry()): ProxyMetrics {
  return {
    registry,
    requests: registry.counter('islet_proxy_requests_total', 'Requests answered by the proxy.', [
      'verb',
      'resource',
      'code',
      'served_from',
    ]),
    requestDuration: registry.histogram(
      'islet_proxy_request_duration_seconds',
      'Time to the end of the response (watches: to the end of the stream).',
      ['verb', 'resource', 'served_from'],
    ),
    upstreamHealthy: registry.gauge('islet_upstream_healthy', 'Whether an upstream API server is healthy.', [
      'upstream',
    ]),
    linkOnline: registry.gauge('islet_link_online', 'Whether the link to the cloud is judged online.'),
    cacheObjects: registry.gauge('islet_cache_objects', 'Objects held in the cache.', ['resource']),
    cacheBytes: registry.gauge('islet_cache_bytes', 'Bytes of object bodies held in the cache.', [
      'resource',
    ]),
    cacheCorrupt: registry.counter(
      'islet_cache_corrupt_total',
      'Damaged cache files set aside and replaced by an empty cache.',
      ['phase'],
    ),
  };
}

/** Keeps the cache gauges fresh at each scrape from a store's stats(). */
export function collectCacheStats(
  metrics: ProxyMetrics,
  stats: () => { gvr: { group: string; resource: string }; objects: number; bytes: number }[],
): void {
  metrics.cacheObjects.onCollect(() => {
    metrics.cacheObjects.reset();
    metrics.cacheBytes.reset();
    for (const s of stats()) {
      const resource = s.gvr.group ? `${s.gvr.group}/${s.gvr.resource}` : s.gvr.resource;
      metrics.cacheObjects.inc({ resource }, s.objects);
      metrics.cacheBytes.inc({ resource }, s.bytes);
    }
  });
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
