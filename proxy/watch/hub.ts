/**
 * The watch hub: every local WATCH lands here. Watchers of the same (identity, resource,
 * namespace, label selector, field selector) share one SharedWatch, hence one upstream watch;
 * they are served from its event log online and offline alike, so a broken link or a 410
 * upstream never reaches them.
 *
 * The key is exact rather than a superset (e.g. all namespaces): a wider upstream watch would
 * need rights the identity may not have (kubelet's node authorizer only allows its own pods).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLogger, type Logger } from '../log.js';
import type { MetricsRegistry } from '../metrics.js';
import { isLocalResourceVersion, parseResourceVersion, upstreamBaseOf } from '../resource-version.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../selectors.js';
import { decideAccept } from '../serve/accept.js';
import { sendStatus } from '../status.js';
import type {
  CacheStoreApi,
  Gvr,
  Identity,
  RequestInfo,
  UpstreamPool,
  WatchEvent,
  WatchHubApi,
} from '../types.js';
import { LogBudget, SharedLines } from './event-log.js';
import { createWatchMetrics, type WatchMetrics } from './metrics.js';
import { Reclaimer } from './reclaim.js';

import { SharedWatch, type SharedWatchConfig } from './shared-watch.js';

export interface WatchHubOptions {
  store: CacheStoreApi;
  pool: UpstreamPool;
  logger?: Logger;
  /** The proxy's registry (the hub registers islet_watch_*), or ready-made metrics. */
  metrics?: MetricsRegistry | WatchMetrics;
  /** Period of BOOKMARK events to watchers that allow them. Default 60 s, like the API server. */
  bookmarkIntervalMs?: number;
  /** Up to this fraction of a client's timeoutSeconds is randomly cut off its watch. Default 0.1. */
  timeoutJitter?: number;
  /** Watch length when the client sets none: [t, 2t) seconds. Default 1800 (API server's). */
  defaultTimeoutSeconds?: number;
  /** An upstream watch stays open this long after its last watcher left. Default 60 s. */
  graceMs?: number;
  /**
   * The proxy's memory budget in bytes (default 256 MiB). New watches are refused with 429 while
   * the process's RSS or V8 heap is above it; all event logs together hold at most an eighth.
   */
  memoryBudgetBytes?: number;
  /** Concurrent watches one identity may hold; more get 429. Default 200. */
  maxWatchesPerIdentity?: number;
  /** Reads the process's memory (tests pass their own). Default process.memoryUsage. */
  memoryUsage?: () => { rss: number; heapUsed: number };
  /** Per shared watch. Defaults 10,000 events / 8 MiB. */
  logMaxEvents?: number;
  logMaxBytes?: number;
  /** Reconnect back-off. Defaults 500 ms doubling to 30 s, jittered. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Upstream watches ask for [t, 2t) seconds. Default 300. */
  upstreamTimeoutSeconds?: number;
  /** First reconnect after the link returns is spread over this window. Default 1000 ms. */
  reconnectJitterMs?: number;
  /** Unread bytes a local watcher may accumulate before it is ended (it resumes). Default 4 MiB. */
  maxBufferedBytes?: number;
  random?: () => number;
}

/**
 * What a shared watch costs once running, as measured with scripts/bench/watch-memory.ts: online
 * about 200-220 KiB a key (its upstream TLS stream and buffers, its share of the log budget),
 * offline (no upstream stream) far less; plus its index, about 50 bytes an object in scope.
 */
const KEY_COST_ONLINE = 224 * 1024;
const KEY_COST_OFFLINE = 32 * 1024;
const INDEX_ENTRY_COST = 50;

export class WatchHub implements WatchHubApi {
  private readonly watches = new Map<string, SharedWatch>();
  private readonly config: SharedWatchConfig;
  private readonly logger: Logger;
  readonly metrics: WatchMetrics;
  private readonly unsubscribe: () => void;
  private closed = false;
  private readonly logBudget: LogBudget;
  private readonly reclaimer = new Reclaimer();
  private readonly memoryBudget: number;
  private readonly maxPerIdentity: number;
  private readonly memoryUsage: () => { rss: number; heapUsed: number };
  /** Watch requests per identity from arrival until their response closes. */
  private readonly perIdentity = new Map<string, number>();
  private pressure = { at: 0, rss: 0, heapUsed: 0 };
  /** RSS when the hub was made (the proxy without watches): the base of the estimate. */
  private readonly baselineRss: number;

  constructor(private readonly opts: WatchHubOptions) {
    const num = (v: number | undefined, d: number, name: string, min = 0): number => {
      const x = v ?? d;
      if (!Number.isFinite(x) || x < min)
        throw new Error(`WatchHub: ${name} must be a number >= ${min} (got ${v})`);
      return x;
    };
    this.config = {
      bookmarkIntervalMs: num(opts.bookmarkIntervalMs, 60_000, 'bookmarkIntervalMs', 1),
      timeoutJitter: num(opts.timeoutJitter, 0.1, 'timeoutJitter'),
      defaultTimeoutSeconds: num(opts.defaultTimeoutSeconds, 1800, 'defaultTimeoutSeconds', 1),
      graceMs: num(opts.graceMs, 60_000, 'graceMs'),
      logMaxEvents: num(opts.logMaxEvents, 10_000, 'logMaxEvents', 1),
      logMaxBytes: num(opts.logMaxBytes, 8 * 1024 * 1024, 'logMaxBytes', 1),
      backoffBaseMs: num(opts.backoffBaseMs, 500, 'backoffBaseMs', 1),
      backoffMaxMs: num(opts.backoffMaxMs, 30_000, 'backoffMaxMs', 1),
      upstreamTimeoutSeconds: num(opts.upstreamTimeoutSeconds, 300, 'upstreamTimeoutSeconds', 1),
      reconnectJitterMs: num(opts.reconnectJitterMs, 1000, 'reconnectJitterMs'),
      maxBufferedBytes: num(opts.maxBufferedBytes, 4 * 1024 * 1024, 'maxBufferedBytes', 1),
      random: opts.random ?? Math.random,
    };
    this.memoryBudget = num(opts.memoryBudgetBytes, 256 * 1024 * 1024, 'memoryBudgetBytes', 1);
    this.maxPerIdentity = num(opts.maxWatchesPerIdentity, 200, 'maxWatchesPerIdentity', 1);
    this.memoryUsage = opts.memoryUsage ?? (() => process.memoryUsage());
    this.baselineRss = this.memoryUsage().rss;
    this.logBudget = new LogBudget(Math.max(1, Math.floor(this.memoryBudget / 8)));
    this.config.logBudget = this.logBudget;
    this.config.lines = new SharedLines();
    if (this.config.timeoutJitter >= 1) throw new Error('WatchHub: timeoutJitter must be below 1');
    if (this.config.backoffMaxMs < this.config.backoffBaseMs) {
      throw new Error('WatchHub: backoffMaxMs must be >= backoffBaseMs');
    }
    this.logger = (opts.logger ?? createLogger()).child({ component: 'watch' });
    this.metrics = isWatchMetrics(opts.metrics) ? opts.metrics : createWatchMetrics(opts.metrics);
    this.metrics.sharedWatches.onCollect(() => {
      this.metrics.sharedWatches.set({}, this.watches.size);
      this.metrics.logBytes.set({}, this.logBudget.bytes);
    });
    this.unsubscribe = opts.pool.onLinkChange((online) => {
      this.logger.info('link changed', { online, sharedWatches: this.watches.size });
      for (const sw of this.watches.values()) sw.linkChanged(online);
    });
  }

  serve(req: IncomingMessage, res: ServerResponse, info: RequestInfo, identity: Identity): void {
    if (this.closed) {
      sendStatus(res, 503, 'ServiceUnavailable', 'the proxy is shutting down');
      return;
    }
    if (!decideAccept(req.headers.accept).json) {
      // The log holds JSON; a protobuf-only or Table-only client would misread it.
      sendStatus(res, 406, 'NotAcceptable', 'watches from the proxy are served as application/json');
      return;
    }
    if (!info.isResourceRequest || !info.resource || info.subresource) {
      sendStatus(res, 400, 'BadRequest', `cannot watch ${info.path}`);
      return;
    }
    // A watch of one object (…/pods/NAME?watch=1) is the collection watch narrowed by name.
    let fieldSelector = info.fieldSelector;
    if (info.name) {
      const byName = `metadata.name=${info.name}`;
      fieldSelector = fieldSelector ? `${fieldSelector},${byName}` : byName;
    }
    const gvr: Gvr = { group: info.group, version: info.version, resource: info.resource };
    let labelSel: ReturnType<typeof parseLabelSelector>;
    let fieldSel: ReturnType<typeof parseFieldSelector>;
    try {
      labelSel = parseLabelSelector(info.labelSelector);
      fieldSel = parseFieldSelector(fieldSelector, gvr);
    } catch (err) {
      if (err instanceof SelectorError) {
        sendStatus(res, 400, 'BadRequest', err.message);
        return;
      }
      throw err;
    }
    // A client that saw a node-made change holds its local version ("4711-islet-3"): it resumes
    // from the upstream version that change was based on.
    const rv = isLocalResourceVersion(info.resourceVersion)
      ? upstreamBaseOf(info.resourceVersion)
      : info.resourceVersion;
    const fromRv = rv === '' || rv === '0' ? undefined : parseResourceVersion(rv);
    if (fromRv === undefined && rv !== '' && rv !== '0') {
      sendStatus(res, 400, 'BadRequest', `resourceVersion: Invalid value: "${rv}": must be an integer`);
      return;
    }
    if (!this.admit(res, identity)) return;
    const key = JSON.stringify([
      identity.id,
      gvr.group,
      gvr.version,
      gvr.resource,
      info.namespace,
      info.labelSelector,
      fieldSelector,
    ]);
    let sw = this.watches.get(key);
    if (!sw) {
      sw = new SharedWatch(
        key,
        { gvr, namespace: info.namespace, labelSelector: info.labelSelector, fieldSelector },
        identity,
        labelSel,
        fieldSel,
        {
          store: this.opts.store,
          pool: this.opts.pool,
          logger: this.logger,
          metrics: this.metrics,
          config: this.config,
          onIdle: (idle) => this.forget(idle),
        },
      );
      this.watches.set(key, sw);
    }
    const shared = sw;
    req.on('error', () => res.destroy());
    shared.serve(res, info, fromRv).catch((err) => {
      this.logger.error('watch failed', { err, path: info.path });
      if (!res.headersSent) sendStatus(res, 500, 'InternalError', 'watch failed in the proxy');
      else res.end();
    });
  }

  /**
   * Admission before a watch costs anything: the identity's cap, then the memory budget. A
   * refused client gets 429 with Retry-After, which client-go and client-node back off on.
   */
  private admit(res: ServerResponse, identity: Identity): boolean {
    const held = this.perIdentity.get(identity.id) ?? 0;
    if (held >= this.maxPerIdentity) {
      this.metrics.refused.inc({ reason: 'identity' });
      sendStatus(
        res,
        429,
        'TooManyRequests',
        `too many watches for this client: ${held} open, the proxy allows ${this.maxPerIdentity} per identity`,
        { retryAfterSeconds: 10 },
      );
      return false;
    }
    if (this.underPressure()) {
      this.metrics.refused.inc({ reason: 'memory' });
      sendStatus(res, 429, 'TooManyRequests', 'the proxy is over its memory budget; retry later', {
        retryAfterSeconds: 5,
      });
      return false;
    }
    this.perIdentity.set(identity.id, held + 1);
    res.once('close', () => {
      const n = (this.perIdentity.get(identity.id) ?? 1) - 1;
      if (n > 0) this.perIdentity.set(identity.id, n);
      else this.perIdentity.delete(identity.id);
    });
    return true;
  }

  /**
   * RSS or heap above the budget, or the keys held would be once paid for. A key's memory shows
   * in RSS only seconds after it was admitted (its upstream TLS stream, list and index come
   * later), so a burst of new keys would all pass one low reading: the estimate counts them at
   * once. Memory is sampled at most every 200 ms.
   */
  private underPressure(): boolean {
    const now = Date.now();
    if (now - this.pressure.at >= 200) {
      const m = this.memoryUsage();
      this.pressure = { at: now, rss: m.rss, heapUsed: m.heapUsed };
    }
    const perKey = this.opts.pool.isOnline() ? KEY_COST_ONLINE : KEY_COST_OFFLINE;
    let estimate = this.baselineRss;
    for (const sw of this.watches.values()) estimate += perKey + sw.indexSize * INDEX_ENTRY_COST;
    const p = this.pressure;
    return Math.max(p.rss, estimate) > this.memoryBudget || p.heapUsed > this.memoryBudget;
  }

  emitLocal(gvr: Gvr, ev: WatchEvent): void {
    if (this.closed) return;
    this.opts.store.applyWatchEvent(gvr, ev);
    for (const sw of this.watches.values()) {
      const g = sw.scope.gvr;
      if (g.group === gvr.group && g.version === gvr.version && g.resource === gvr.resource) sw.local(ev);
    }
  }

  /** Shared watches with an upstream loop or local watchers, for tests and the doctor. */
  stats(): {
    key: string;
    resource: string;
    namespace: string;
    watchers: number;
    head: string;
    logBytes: number;
  }[] {
    return [...this.watches.values()].map((sw) => ({
      key: sw.key,
      resource: sw.scope.gvr.resource,
      namespace: sw.scope.namespace,
      watchers: sw.watcherCount,
      head: sw.head,
      logBytes: sw.logBytes,
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.reclaimer.close();
    for (const sw of this.watches.values()) sw.close();
    this.watches.clear();
  }

  private forget(sw: SharedWatch): void {
    if (this.watches.get(sw.key) === sw) this.watches.delete(sw.key);
    sw.close();
    if (!this.closed) this.reclaimer.released();
  }
}

function isWatchMetrics(m: MetricsRegistry | WatchMetrics | undefined): m is WatchMetrics {
  return m !== undefined && 'upstreamOpen' in m;
}
