/**
 * One shared watch: the unit of sharing (identity, resource, namespace, selectors). It holds the
 * bounded event log, the index of what its watchers hold, and the local watchers it fans out to;
 * its UpstreamLoop (upstream-loop.ts) keeps the upstream watch open and hands it what upstream
 * sends (events, the relist after a 410, the priming list).
 *
 * Invariant: the store reflects every event this watch has logged (writes are applied as they
 * arrive), so "events after x" can always be answered from the log, or for x older than the log
 * from the store plus the index's tombstones, down to `storeBase`.
 */
import type { ServerResponse } from 'node:http';
import { apiVersionOf, resourceFacts } from '../gvr.js';
import type { Logger } from '../log.js';
import { comparePositions, maxRv, objectResourceVersion, parseResourceVersion } from '../resource-version.js';
import {
  type FieldSelector,
  type LabelSelector,
  matchesFieldSelector,
  matchesLabelSelector,
} from '../selectors.js';
import { sendStatus, statusObject } from '../status.js';
import type {
  CacheStoreApi,
  Identity,
  KubeList,
  KubeObject,
  RequestInfo,
  Scope,
  StoreCursor,
  UpstreamPool,
  ViewKey,
  WatchEvent,
  WatchEventType,
} from '../types.js';
import { EventLog, type LogBudget, type LogEntry, type SharedLines } from './event-log.js';
import { LocalWatcher } from './local-watcher.js';
import type { WatchMetrics } from './metrics.js';
import { diffList, objectName, ScopeIndex } from './scope-index.js';
import { UpstreamLoop } from './upstream-loop.js';
import type { UpstreamRefusal } from './upstream-stream.js';

export interface SharedWatchConfig {
  bookmarkIntervalMs: number;
  /** Fraction of a client's timeoutSeconds by which its close is randomly brought forward. */
  timeoutJitter: number;
  /** Used when the client gave no timeoutSeconds: like the API server, [t, 2t). */
  defaultTimeoutSeconds: number;
  graceMs: number;
  logMaxEvents: number;
  logMaxBytes: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Upstream watches ask for [t, 2t) seconds and are resumed when they end. */
  upstreamTimeoutSeconds: number;
  /** Spread of the first reconnect after the link comes back. */
  reconnectJitterMs: number;
  maxBufferedBytes: number;
  /** Hub-wide bound on the bytes all event logs hold. */
  logBudget?: LogBudget;
  /** Hub-wide: one copy of a line that several keys log (and never a slice of a read chunk). */
  lines?: SharedLines;
  random: () => number;
}

/** Objects per page of a new watcher's initial state read from the store. */
const INITIAL_PAGE = 100;
/** A page is read once the client has taken what was written down to this many bytes. */
const INITIAL_LOW_WATER = 64 * 1024;

export interface SharedWatchDeps {
  store: CacheStoreApi;
  pool: UpstreamPool;
  logger: Logger;
  metrics: WatchMetrics;
  config: SharedWatchConfig;
  /** The watch has had no watcher for the grace period: the hub forgets it. */
  onIdle: (sw: SharedWatch) => void;
}

export class SharedWatch {
  private log: EventLog | undefined;
  private index: ScopeIndex | undefined;
  /** Oldest version a watcher may ask for and still get a replay from the store. */
  private storeBase: bigint | undefined;
  /**
   * The version since which this key has handed the store every change of its scope (each
   * upstream event applied in order): what lets the store move the key's view up with it.
   * Undefined before the key has a log.
   */
  private coveredSince: bigint | undefined;
  private readonly view: ViewKey;
  private readonly watchers = new Set<LocalWatcher>();
  private closed = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private users = 0;
  private kindInfo: { kind: string; apiVersion: string } | undefined;
  /** Something was logged since the key started (its start can no longer move back). */
  private logged = false;
  private readonly upstream: UpstreamLoop;
  private readonly resource: string;
  private readonly log_: Logger;

  constructor(
    readonly key: string,
    readonly scope: Scope,
    readonly identity: Identity,
    private readonly labelSel: LabelSelector,
    private readonly fieldSel: FieldSelector,
    private readonly deps: SharedWatchDeps,
  ) {
    const { group, resource } = scope.gvr;
    this.resource = group ? `${group}/${resource}` : resource;
    this.log_ = deps.logger.child({ watch: this.resource, namespace: scope.namespace || undefined });
    const facts = resourceFacts(scope.gvr);
    if (facts) this.kindInfo = { kind: facts.kind, apiVersion: apiVersionOf(scope.gvr) };
    this.view = { identity: identity.id, ...scope };
    this.upstream = new UpstreamLoop({
      pool: deps.pool,
      scope,
      identity,
      config: deps.config,
      metrics: deps.metrics,
      resource: this.resource,
      log: this.log_,
      hooks: {
        resumeFrom: () => this.log?.head,
        event: (ev, line) => this.onUpstreamEvent(ev, line),
        relisted: (list, listRv) => this.relisted(list, listRv),
        primed: (list, listRv) => this.primed(list, listRv),
        watcherCount: () => this.watchers.size,
        refused: () => this.deps.onIdle(this),
      },
    });
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Newest version the watch knows all changes up to ('' before it knows any). */
  get head(): string {
    return this.log ? String(this.log.head) : '';
  }

  /**
   * Serves one local watch request. `fromRv` undefined means resourceVersion "" or "0": the
   * current state as synthetic ADDED events first.
   */
  async serve(res: ServerResponse, info: RequestInfo, fromRv: bigint | undefined): Promise<void> {
    this.users++;
    this.cancelGrace();
    try {
      if (fromRv === undefined) {
        if (!this.log) this.initFromStore();
        else if (!this.index) this.loadIndex(this.log.head);
        if (!this.index || !this.log) {
          if (!this.deps.pool.isOnline()) {
            sendStatus(
              res,
              503,
              'ServiceUnavailable',
              `node is offline and holds no complete copy of ${this.resource}`,
            );
            return;
          }
          const refusal = await this.upstream.prime();
          if (refusal) return forwardRefusal(res, refusal);
          // An informer's watch (with a resourceVersion) may have made the log while the list was
          // in flight: a log alone is no copy of the state, only a primed index is.
          if (!this.log || !this.index) {
            sendStatus(
              res,
              503,
              'ServiceUnavailable',
              `upstream unavailable and no complete copy of ${this.resource}`,
            );
            return;
          }
        }
      } else if (!this.log) {
        // The client holds the scope at fromRv (it listed it, upstream or from this cache).
        this.startLog(fromRv);
        this.loadIndex(fromRv);
      }
      const verdict = this.upstream.start();
      if (verdict) {
        const refusal = await verdict;
        if (refusal) return forwardRefusal(res, refusal);
      }
      if (this.closed) {
        sendStatus(res, 503, 'ServiceUnavailable', 'the proxy is shutting down');
        return;
      }
      if (!this.mayServe()) {
        sendStatus(
          res,
          503,
          'ServiceUnavailable',
          `${this.deps.pool.isOnline() ? 'the API server has not accepted this watch yet' : 'node is offline'} and no complete cached list of ${this.resource} is held for this client`,
          { retryAfterSeconds: 10 },
        );
        return;
      }
      if (res.destroyed || res.writableEnded) return;
      await this.attach(res, info, fromRv);
    } finally {
      this.users--;
      this.maybeIdle();
    }
  }

  /** A change the node made itself (already in the store): fanned out with selector semantics. */
  local(ev: WatchEvent): void {
    if (!this.log || this.closed) return;
    const obj = ev.object;
    const name = objectName(obj);
    const inScope = this.matches(obj);
    const held = this.index?.has(name);
    let type: WatchEventType;
    if (ev.type === 'DELETED') {
      if (held === false || (held === undefined && !inScope)) return;
      type = 'DELETED';
    } else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
      if (inScope) type = held === true ? 'MODIFIED' : held === false ? 'ADDED' : ev.type;
      else if (held)
        type = 'DELETED'; // left the selector, as the API server reports it
      else return;
    } else return;
    this.learnKind(obj);
    const entry = this.log.appendAtHead({ type, name, line: `${JSON.stringify({ type, object: obj })}\n` });
    this.logged = true;
    if (this.index) {
      // A node-made version is not upstream's: a relist will replace it with upstream's truth.
      if (type === 'DELETED') this.noteDeleted(name, this.log.head);
      else this.index.set(name, undefined);
    }
    this.fanOut(entry);
  }

  /**
   * Whether this identity may be served this scope: upstream accepted its watch or list of it, or
   * it holds a complete view covering it (it listed the scope itself). Otherwise nothing says it
   * may see the scope (offline, a fresh key or one whose gate opened without upstream's verdict),
   * and even node-made events must not reach it.
   */
  private mayServe(): boolean {
    return this.upstream.accepted || this.deps.store.findCoveringView(this.viewKey()) !== undefined;
  }

  linkChanged(online: boolean): void {
    if (this.closed) return;
    this.upstream.linkChanged(online);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelGrace();
    this.upstream.close();
    for (const w of [...this.watchers]) w.end();
    // Hand the log's bytes back to the hub's budget; the index goes with the watch.
    this.log?.reset(this.log.head);
    this.index = undefined;
  }

  /** Objects (and tombstones) the index holds. */
  get indexSize(): number {
    return this.index?.size ?? 0;
  }

  /** Bytes the event log holds now. */
  get logBytes(): number {
    return this.log?.byteSize ?? 0;
  }

  // ------------------------------------------------------------------ local watchers

  private async attach(res: ServerResponse, info: RequestInfo, fromRv: bigint | undefined): Promise<void> {
    const log = this.log!;
    // The synthetic state is the store's; after a priming LIST it is newer than the log's head,
    // and events up to the list's version must not follow it (they would be older versions).
    const stateRv = this.storeBase !== undefined && this.storeBase > log.head ? this.storeBase : log.head;
    const w = this.newWatcher(res, info, fromRv ?? stateRv);
    if (fromRv === undefined) {
      w.start(false);
      if (!(await this.streamInitialState(w, stateRv))) return;
      w.goLive();
      if (info.sendInitialEvents && info.allowWatchBookmarks)
        w.bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const entries = log.since(fromRv);
      if (entries) {
        w.start();
        for (const e of entries) w.deliver(e);
      } else if (this.index && this.storeBase !== undefined && fromRv >= this.storeBase) {
        w.start();
        this.replayFromStore(w, fromRv);
        this.deps.metrics.relistsAvoided.inc({ resource: this.resource });
      } else if (this.canRewind()) {
        // Informers that listed a moment apart race their watches here: the first fixed the
        // start; nothing was logged since, so the watch can start earlier instead of a 410.
        this.rewind(fromRv);
        w.start();
      } else {
        w.start();
        w.fail(statusObject(410, 'Expired', `too old resource version: ${fromRv} (${log.start})`));
        return;
      }
    }
    if (w.isClosed) return;
    this.watchers.add(w);
    this.deps.metrics.localWatchers.inc({ resource: this.resource });
  }

  private newWatcher(res: ServerResponse, info: RequestInfo, fromRv: bigint): LocalWatcher {
    const c = this.deps.config;
    const timeoutMs =
      info.timeoutSeconds && info.timeoutSeconds > 0
        ? info.timeoutSeconds * 1000 * (1 - c.timeoutJitter * c.random())
        : c.defaultTimeoutSeconds * 1000 * (1 + c.random());
    return new LocalWatcher({
      res,
      fromRv,
      bookmarks: info.allowWatchBookmarks,
      bookmarkIntervalMs: c.bookmarkIntervalMs,
      timeoutMs: Math.max(1, Math.round(timeoutMs)),
      maxBufferedBytes: c.maxBufferedBytes,
      kindInfo: () => this.kindInfo ?? { kind: '', apiVersion: apiVersionOf(this.scope.gvr) },
      headRv: () => this.log?.head ?? 0n,
      onEvent: (type) => this.deps.metrics.eventsFannedOut.inc({ resource: this.resource, type }),
      onClose: (lw) => {
        if (this.watchers.delete(lw)) this.deps.metrics.localWatchers.dec({ resource: this.resource });
        this.maybeIdle();
      },
    });
  }

  /**
   * The store's state of the scope as ADDED events, read and written a page at a time with the
   * client's pace (never the whole scope in memory per watcher), then what was logged meanwhile.
   * False when the watcher ended on the way.
   */
  private async streamInitialState(w: LocalWatcher, stateRv: bigint): Promise<boolean> {
    let after: StoreCursor | undefined;
    do {
      const page = this.deps.store.listTextsPage(this.scope, after, INITIAL_PAGE);
      for (const text of page.texts) w.deliverText('ADDED', text);
      after = page.next;
      if (after) await w.drained(INITIAL_LOW_WATER);
    } while (after && !w.isClosed && !this.closed);
    if (w.isClosed || this.closed || !this.log) {
      w.end();
      return false;
    }
    // Pages read later may already hold some of these changes: a repeat is harmless, a gap not.
    const missed = this.log.since(stateRv);
    if (!missed) {
      // The log moved past the state while it was sent: a clean end, the client resumes.
      w.end();
      return false;
    }
    for (const e of missed) w.deliver(e);
    return !w.isClosed;
  }

  /** Everything after x that the log no longer holds, rebuilt from the store and the index. */
  private replayFromStore(w: LocalWatcher, x: bigint): void {
    const { changed, deleted } = this.index!.changedSince(x);
    const objects: KubeObject[] = [];
    for (const name of changed) {
      const o = this.getObject(name);
      if (o && this.matches(o)) objects.push(o);
    }
    objects.sort((a, b) => comparePositions(objectResourceVersion(a), objectResourceVersion(b)));
    for (const o of objects) w.deliverObject('MODIFIED', o);
    deleted.sort((a, b) => comparePositions(a.rv, b.rv));
    for (const d of deleted) w.deliverObject('DELETED', this.tombstoneObject(d.name, d.rv));
  }

  /** The log has logged nothing since the key started: its start may still move back. */
  private canRewind(): boolean {
    return this.log !== undefined && this.log.size === 0 && !this.logged;
  }

  private rewind(to: bigint): void {
    this.startLog(to);
    this.index = undefined;
    this.storeBase = undefined;
    this.loadIndex(to);
    this.upstream.rewind();
  }

  private fanOut(entry: LogEntry): void {
    for (const w of this.watchers) w.deliver(entry);
  }

  private maybeIdle(): void {
    if (this.closed || this.users > 0 || this.watchers.size > 0 || this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.users === 0 && this.watchers.size === 0) this.deps.onIdle(this);
    }, this.deps.config.graceMs);
    this.graceTimer.unref();
  }

  private cancelGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  // ------------------------------------------------------------------ what upstream sends

  private onUpstreamEvent(ev: WatchEvent, line: string): void {
    const log = this.log!;
    const rv = objectResourceVersion(ev.object);
    if (rv === undefined) {
      this.log_.warn('upstream event without a usable resourceVersion', { type: ev.type });
      return;
    }
    if (ev.type === 'BOOKMARK') {
      log.advance(rv);
      this.applyToStore(ev, rv);
      return;
    }
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED') return;
    const name = objectName(ev.object);
    const kept = this.deps.config.lines
      ? this.deps.config.lines.share(ev.type, name, rv, `${line}\n`)
      : Buffer.from(`${line}\n`, 'utf8').toString('utf8');
    const entry: LogEntry = { rv, type: ev.type, name, line: kept };
    if (!log.append(entry)) return; // already delivered before a resume
    this.logged = true;
    this.learnKind(ev.object);
    if (this.index) {
      if (ev.type === 'DELETED') this.noteDeleted(name, rv);
      else this.index.set(name, rv);
    }
    this.applyToStore(ev, rv);
    this.fanOut(entry);
  }

  /**
   * The one LIST after upstream said 410: the difference between what the watchers hold and the
   * list becomes ADDED/MODIFIED/DELETED events, the view is marked complete at the list's
   * version, and the watch resumes from there. Local watchers never see the 410.
   */
  private relisted(list: KubeList, listRv: bigint): void {
    this.learnListKind(list.kind, list.apiVersion);
    const log = this.log;
    if (!this.index && log) this.loadIndex(log.head);
    // Held here: a list the store cannot take drops this.index (no replay base), but the diff
    // against what watchers hold is still theirs to get.
    const index = this.index;
    if (index && log) {
      const diff = diffList(index.live(), list.items);
      // Bodies of the vanished objects, read before the list removes them from the store.
      const gone = diff.deleted.map((name) => this.tombstoneObject(name, listRv, this.getObject(name)));
      this.applyListToStore(list);
      const changes: { type: WatchEventType; object: KubeObject; rv: bigint }[] = [
        ...diff.added.map((o) => ({
          type: 'ADDED' as const,
          object: o,
          rv: objectResourceVersion(o) ?? listRv,
        })),
        ...diff.modified.map((o) => ({
          type: 'MODIFIED' as const,
          object: o,
          rv: objectResourceVersion(o) ?? listRv,
        })),
      ].sort((a, b) => comparePositions(a.rv, b.rv));
      for (const g of gone) changes.push({ type: 'DELETED', object: g, rv: listRv });
      for (const ch of changes) {
        const name = objectName(ch.object);
        const line = `${JSON.stringify({ type: ch.type, object: ch.object })}\n`;
        const fresh: LogEntry = { rv: ch.rv, type: ch.type, name, line };
        const entry = log.append(fresh) ? fresh : log.appendAtHead({ type: ch.type, name, line });
        this.logged = true;
        if (ch.type === 'DELETED') this.noteDeleted(name, ch.rv);
        else index.set(name, ch.rv);
        this.fanOut(entry);
      }
      log.advance(listRv);
      // The 410 was a gap in the stream; the list closed it at its version.
      this.coveredSince = listRv;
      this.deps.metrics.relistsAvoided.inc({ resource: this.resource }, this.watchers.size);
      this.log_.info('relisted after 410', {
        resourceVersion: String(listRv),
        added: diff.added.length,
        modified: diff.modified.length,
        deleted: diff.deleted.length,
      });
    } else {
      // Nothing to diff against: watchers' state is unknown, so they must relist themselves.
      this.applyListToStore(list);
      this.index = ScopeIndex.fromObjects(list.items, listRv);
      this.storeBase = listRv;
      this.startLog(listRv);
      for (const w of [...this.watchers])
        w.fail(statusObject(410, 'Expired', 'resource version expired upstream'));
    }
  }

  /** The first LIST for a resourceVersion=0 watch when the store held no complete copy. */
  private primed(list: KubeList, listRv: bigint): void {
    this.learnListKind(list.kind, list.apiVersion);
    this.applyListToStore(list);
    if (this.log) {
      // A watch with a resourceVersion started this key while the list was in flight, and
      // its upstream events may be newer than the list: they are in the store and the log
      // already. The index is the store's merge of both, at the newer of the two; one built
      // from the list alone would forget what those events deleted or added.
      this.loadIndex(maxRv(listRv, this.log.head));
    } else {
      this.index = ScopeIndex.fromObjects(list.items, listRv);
      this.storeBase = listRv;
      this.startLog(listRv);
    }
  }

  // ------------------------------------------------------------------ store

  private viewKey(): ViewKey {
    return this.view;
  }

  /** The key's history (re)starts at rv: the log and what the stream vouches for to the store. */
  private startLog(rv: bigint): void {
    const c = this.deps.config;
    if (this.log) this.log.reset(rv);
    else
      this.log = new EventLog(rv, {
        maxEvents: c.logMaxEvents,
        maxBytes: c.logMaxBytes,
        budget: c.logBudget,
      });
    this.coveredSince = rv;
  }

  /**
   * A new watch for resourceVersion 0 starts from the store when it holds a complete copy, at the
   * version the view is complete at. Objects the store holds at newer versions (a GET, another
   * key's events) do not make it newer: the changes between may be missing from this scope, and a
   * watch resumed past them would never get them.
   */
  private initFromStore(): void {
    const view = this.deps.store.findCoveringView(this.viewKey());
    if (!view?.complete) return;
    const head = parseResourceVersion(view.listResourceVersion);
    if (head === undefined) return;
    this.startLog(head);
    this.index = ScopeIndex.fromVersions(this.scopeVersions(), head);
    this.storeBase = head;
  }

  /** The index of what watchers hold, from the store, if it has a complete copy of the scope. */
  private loadIndex(at: bigint): void {
    const view = this.deps.store.findCoveringView(this.viewKey());
    if (!view?.complete) return;
    this.index = ScopeIndex.fromVersions(this.scopeVersions(), at);
    this.storeBase = at;
  }

  /** Names and versions of what the store holds in scope: the index needs no bodies. */
  private scopeVersions(): { name: string; rv: string }[] {
    return this.deps.store.scopeVersions(this.scope);
  }

  private getObject(name: string): KubeObject | undefined {
    const slash = name.indexOf('/');
    return this.deps.store.getObject(this.scope.gvr, name.slice(0, slash), name.slice(slash + 1));
  }

  private noteDeleted(name: string, rv: bigint): void {
    const floor = this.index?.delete(name, rv);
    if (floor !== undefined && (this.storeBase === undefined || floor > this.storeBase))
      this.storeBase = floor;
  }

  /** An upstream event at rv into the store; the key's view follows while nothing was missed. */
  private applyToStore(ev: WatchEvent, rv: bigint): void {
    const since = this.coveredSince;
    try {
      this.deps.store.applyWatchEvent(
        this.scope.gvr,
        ev,
        since === undefined ? undefined : { view: this.view, since: String(since) },
      );
    } catch (err) {
      this.log_.error('cache write failed; view marked incomplete', { err });
      this.markIncomplete();
      // The store lacks this change: only a list from here on can make the view whole again.
      this.coveredSince = rv;
    }
  }

  private applyListToStore(list: Parameters<CacheStoreApi['applyList']>[1]): void {
    try {
      this.deps.store.applyList(this.viewKey(), list);
    } catch (err) {
      this.log_.error('cache write of relist failed', { err });
      this.markIncomplete();
    }
  }

  private markIncomplete(): void {
    try {
      this.deps.store.markViewIncomplete(this.viewKey());
    } catch {
      // The store is failing as a whole; its own errors are already logged.
    }
    this.index = undefined;
    this.storeBase = undefined;
  }

  private tombstoneObject(name: string, rv: bigint, body?: KubeObject): KubeObject {
    const slash = name.indexOf('/');
    const namespace = name.slice(0, slash);
    const kind = this.kindInfo ?? { kind: '', apiVersion: apiVersionOf(this.scope.gvr) };
    const base: KubeObject = body
      ? structuredClone(body)
      : { ...kind, metadata: { name: name.slice(slash + 1), ...(namespace ? { namespace } : {}) } };
    base.metadata.resourceVersion = String(rv);
    return base;
  }

  private matches(obj: KubeObject): boolean {
    if (this.scope.namespace && obj.metadata?.namespace !== this.scope.namespace) return false;
    if (!matchesLabelSelector(obj.metadata?.labels, this.labelSel)) return false;
    try {
      return matchesFieldSelector(obj, this.scope.gvr, this.fieldSel);
    } catch {
      return false;
    }
  }

  private learnKind(obj: KubeObject): void {
    if (this.kindInfo?.kind || !obj.kind || !obj.apiVersion || obj.kind === 'Status') return;
    this.kindInfo = { kind: obj.kind, apiVersion: obj.apiVersion };
  }

  private learnListKind(listKind: string, apiVersion: string): void {
    if (this.kindInfo?.kind || !listKind?.endsWith('List')) return;
    this.kindInfo = { kind: listKind.slice(0, -4), apiVersion };
  }
}

function forwardRefusal(res: ServerResponse, refusal: UpstreamRefusal): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = {
    'Content-Type': refusal.contentType,
    'Content-Length': refusal.body.length,
  };
  if (refusal.retryAfterMs !== undefined) headers['Retry-After'] = Math.ceil(refusal.retryAfterMs / 1000);
  res.writeHead(refusal.code, headers);
  res.end(refusal.body);
}
