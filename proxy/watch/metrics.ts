/** The hub's metrics, registered on the proxy's one registry (names as the README documents). */
import { type Counter, type Gauge, MetricsRegistry } from '../metrics.js';

export interface WatchMetrics {
  /** resource: upstream watch streams open now */
  upstreamOpen: Gauge;
  /** resource: local watch streams open now */
  localWatchers: Gauge;
  /** resource, type: events written to local watchers (bookmarks included, by type) */
  eventsFannedOut: Counter;
  /** resource: local relists made unnecessary (watchers kept across an upstream break, old-RV replays) */
  relistsAvoided: Counter;
  /** resource: upstream LISTs the hub made (after a 410, or to prime a resourceVersion=0 watch) */
  relists: Counter;
  /** shared watches the hub holds (each: an event log, an index, maybe an upstream watch) */
  sharedWatches: Gauge;
  /** bytes all event logs hold together */
  logBytes: Gauge;
  /** reason: watches refused with 429 (identity: per-identity cap, memory: over the budget) */
  refused: Counter;
}

export function createWatchMetrics(registry: MetricsRegistry = new MetricsRegistry()): WatchMetrics {
  return {
    upstreamOpen: registry.gauge('islet_watch_upstream_open', 'Upstream watch streams open.', ['resource']),
    localWatchers: registry.gauge('islet_watch_local_watchers', 'Local watch streams served.', ['resource']),
    eventsFannedOut: registry.counter(
      'islet_watch_events_fanned_out_total',
      'Watch events written to local watchers.',
      ['resource', 'type'],
    ),
    relistsAvoided: registry.counter(
      'islet_watch_relists_avoided_total',
      'Local relists made unnecessary: watchers kept open across an upstream break or replayed from the store.',
      ['resource'],
    ),
    relists: registry.counter('islet_watch_relists_total', 'Upstream LISTs made by the watch hub.', [
      'resource',
    ]),
    sharedWatches: registry.gauge(
      'islet_watch_shared',
      'Shared watches held (an event log each; released a grace period after the last watcher left).',
    ),
    logBytes: registry.gauge('islet_watch_log_bytes', 'Bytes held by all watch event logs.'),
    refused: registry.counter('islet_watch_refused_total', 'Watches refused with 429.', ['reason']),
  };
}
