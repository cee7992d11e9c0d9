/**
 * The durable object cache: the one face of proxy/cache/ the other parts use. Each object is
 * stored once per (group, version, resource, namespace, name); views and grants record what each
 * identity was allowed to read; history lets watchers resume; raw answers keep discovery. Each
 * of those is its own module; this class composes them:
 *
 * - cache-file.ts: the SQLite file (WAL, synchronous=FULL, 0600), one transaction per operation (a
 *   crash leaves the state before or after it, never half of it), a damaged file replaced;
 * - tables.ts: the layout and its prepared statements, per schema (disk, or memory for secrets
 *   kept off disk);
 * - objects.ts: object rows, resourceVersions never going backwards;
 * - views.ts: views and grants;
 * - history.ts: per-resource version and history floor, bounded tombstones;
 * - raw.ts: non-resource answers kept verbatim.
 *
 * A small LRU in front holds committed JSON texts of hot objects.
 */
import { LRUCache } from 'lru-cache';
import { resourceFacts } from '../gvr.js';
import type {
  CacheStoreApi,
  Gvr,
  KubeList,
  KubeObject,
  ListEnvelope,
  ListItem,
  RawAnswer,
  Scope,
  StoreCursor,
  StoredEntry,
  StreamCoverage,
  Tombstone,
  ViewKey,
  ViewState,
  WatchEvent,
} from '../types.js';
import { CacheFile, type CorruptionEvent } from './cache-file.js';
import { History } from './history.js';
import { checkObject, ObjectRows } from './objects.js';
import type { Tables } from './tables.js';
import { Views } from './views.js';

export interface CacheStoreOptions {
  /** SQLite file; created 0600 with its directory. */
  path: string;
  /** false keeps core/v1 secrets in memory only (lost on restart, never on disk). Default true. */
  persistSecrets?: boolean;
  /** Hot objects kept in memory as JSON text: at most this many (default 2,000)... */
  lruMax?: number;
  /** ...and at most this many bytes (default 8 MiB). */
  lruMaxBytes?: number;
  /** Tombstones kept per resource; older deletions fall out of the replayable history. */
  maxTombstonesPerResource?: number;
  /**
   * Told when the file was found damaged (at open, by the integrity check, or by an SQLite error
   * later) and was set aside for a fresh, empty one. Default: nothing but the reset itself.
   */
  onCorrupt?: (event: CorruptionEvent) => void;
}

export interface ResourceStats {
  gvr: Gvr;
  objects: number;
  bytes: number;
  /** ms since epoch of the newest write, 0 when none. */
  lastUpdate: number;
  resourceVersion: string;
  /** false for resources kept in memory only (secrets with persistSecrets: false). */
  persisted: boolean;
}

export class CacheStore implements CacheStoreApi {
  private readonly file: CacheFile;
  private readonly persistSecrets: boolean;
  private readonly lru: LRUCache<string, string>;
  private readonly history: History;
  private readonly objects: ObjectRows;
  private readonly viewSet: Views;

  constructor(opts: CacheStoreOptions) {
    if (!opts || typeof opts.path !== 'string' || opts.path === '') {
      throw new Error('CacheStore: options.path must be a non-empty file path');
    }
    const lruMax = opts.lruMax ?? 2000;
    // Small on purpose: the proxy's RSS budget is 120 MB with 10k pods; SQLite's page cache is warm anyway.
    const lruMaxBytes = opts.lruMaxBytes ?? 8 * 1024 * 1024;
    if (!Number.isInteger(lruMax) || lruMax < 1)
      throw new Error(`CacheStore: lruMax must be a positive integer, got ${lruMax}`);
    if (!Number.isInteger(lruMaxBytes) || lruMaxBytes < 1) {
      throw new Error(`CacheStore: lruMaxBytes must be a positive integer, got ${lruMaxBytes}`);
    }
    const maxTombstones = opts.maxTombstonesPerResource ?? 10_000;
    if (!Number.isInteger(maxTombstones) || maxTombstones < 1) {
      throw new Error(
        `CacheStore: maxTombstonesPerResource must be a positive integer, got ${maxTombstones}`,
      );
    }
    this.persistSecrets = opts.persistSecrets ?? true;
    this.lru = new LRUCache<string, string>({
      max: lruMax,
      maxSize: lruMaxBytes,
      sizeCalculation: (v) => Math.max(1, v.length),
    });
    this.history = new History(maxTombstones);
    this.objects = new ObjectRows(this.lru, this.history);
    this.viewSet = new Views(this.objects, this.history);
    this.file = new CacheFile(opts.path, opts.onCorrupt, () => {
      this.lru.clear();
      this.history.reset();
    });
  }

  /**
   * Bumped each time the file is replaced: what a caller stored before (e.g. the first pages of a
   * chunked list) is gone, so it must not complete anything with it.
   */
  get generation(): number {
    return this.file.generation;
  }

  // ------------------------------------------------------------------ objects

  getObject(gvr: Gvr, namespace: string, name: string): KubeObject | undefined {
    const body = this.getBodyText(gvr, namespace, name);
    return body === undefined ? undefined : (JSON.parse(body) as KubeObject);
  }

  /** The stored JSON text of an object (what offline GET sends), without a parse. */
  getBodyText(gvr: Gvr, namespace: string, name: string): string | undefined {
    return this.file.guard(() =>
      this.objects.bodyText(this.tables(gvr), gvr, this.nsOf(gvr, namespace), name, !this.file.inTransaction),
    );
  }

  /** The resourceVersion held for an object, without reading its body; undefined when not held. */
  objectResourceVersion(gvr: Gvr, namespace: string, name: string): string | undefined {
    return this.file.guard(() =>
      this.objects.resourceVersionOf(this.tables(gvr), gvr, this.nsOf(gvr, namespace), name),
    );
  }

  /** `text`, when given, is the exact JSON of `obj` (upstream's bytes): stored without a re-serialise. */
  upsertObject(gvr: Gvr, obj: KubeObject, text?: string): void {
    checkObject(obj);
    this.file.tx(() => this.objects.upsert(this.tables(gvr), gvr, obj, true, text));
  }

  deleteObject(gvr: Gvr, namespace: string, name: string, resourceVersion?: string): void {
    const rv = resourceVersion ?? '';
    this.file.tx(() =>
      this.objects.delete(this.tables(gvr), gvr, this.nsOf(gvr, namespace), name, rv, rv, undefined),
    );
  }

  applyWatchEvent(gvr: Gvr, ev: WatchEvent, coverage?: StreamCoverage): void {
    if (ev.type === 'ERROR') return;
    this.file.tx(() => {
      const t = this.tables(gvr);
      switch (ev.type) {
        case 'ADDED':
        case 'MODIFIED':
          checkObject(ev.object);
          this.objects.upsert(t, gvr, ev.object, true);
          break;
        case 'DELETED': {
          checkObject(ev.object);
          const m = ev.object.metadata;
          const rv = m.resourceVersion ?? '';
          this.objects.delete(t, gvr, m.namespace ?? '', m.name, rv, rv, ev.object);
          break;
        }
        case 'BOOKMARK': {
          const rv = ev.object?.metadata?.resourceVersion;
          if (rv) this.history.advance(t, gvr, rv);
          break;
        }
        default:
          throw new Error(`unknown watch event type ${(ev as { type: unknown }).type}`);
      }
      const rv = ev.object?.metadata?.resourceVersion;
      if (coverage && rv) this.viewSet.covered(t, coverage.view, coverage.since, rv);
    });
  }

  // ------------------------------------------------------------------ lists and views

  applyList(view: ViewKey, list: KubeList): void {
    if (!list || !Array.isArray(list.items)) throw new Error('applyList: list.items must be an array');
    for (const item of list.items) checkObject(item);
    this.applyListItems(
      view,
      list,
      list.items.map((object) => ({ object })),
    );
  }

  /**
   * applyList for items handed over one at a time (the cache filler parses a large list item by
   * item, so it never holds all of them parsed at once). One transaction: an invalid item rolls
   * the whole list back.
   */
  applyListItems(view: ViewKey, envelope: ListEnvelope, items: Iterable<ListItem>): void {
    this.file.tx(() => {
      const t = this.tables(view.gvr);
      const names = this.objects.upsertItems(t, view.gvr, envelope, items, false);
      this.viewSet.complete(t, view, envelope, names);
    });
  }

  /**
   * The items of one page of a chunked list (kind and apiVersion filled in from the list, as
   * applyList does); returns their "namespace/name" keys for completeView.
   */
  upsertListPage(gvr: Gvr, envelope: ListEnvelope, items: Iterable<ListItem>): Set<string> {
    let names = new Set<string>();
    this.file.tx(() => {
      names = this.objects.upsertItems(this.tables(gvr), gvr, envelope, items, true);
    });
    return names;
  }

  /**
   * Completes a view from a list whose items are already stored (the pages of a chunked list):
   * what the scope held and `names` lacks is gone, the view is complete at the list's RV.
   */
  completeView(view: ViewKey, envelope: ListEnvelope, names: ReadonlySet<string>): void {
    this.file.tx(() => this.viewSet.complete(this.tables(view.gvr), view, envelope, names));
  }

  markViewIncomplete(view: ViewKey): void {
    this.file.guard(() => this.viewSet.markIncomplete(this.tables(view.gvr), view));
  }

  markGvrIncomplete(gvr: Gvr): void {
    this.file.tx(() => this.viewSet.markGvrIncomplete(this.tables(gvr), gvr));
  }

  findCoveringView(view: ViewKey): ViewState | undefined {
    return this.file.guard(() => this.viewSet.findCovering(this.tables(view.gvr), view));
  }

  /** Every view of an identity for a gvr, complete or not (for doctor and tests). */
  views(identity: string, gvr: Gvr): ViewState[] {
    return this.file.guard(() => this.viewSet.all(this.tables(gvr), identity, gvr));
  }

  grant(identity: string, gvr: Gvr, namespace: string, name: string): void {
    this.file.guard(() =>
      this.viewSet.grant(this.tables(gvr), identity, gvr, this.nsOf(gvr, namespace), name),
    );
  }

  mayRead(identity: string, gvr: Gvr, obj: KubeObject): boolean {
    return this.file.guard(() => this.viewSet.mayRead(this.tables(gvr), identity, gvr, obj));
  }

  // ------------------------------------------------------------------ reads of a scope

  listObjects(gvr: Gvr, namespace: string, labelSelector: string, fieldSelector: string): KubeObject[] {
    return this.listBodyTexts(gvr, namespace, labelSelector, fieldSelector).map(
      (b) => JSON.parse(b) as KubeObject,
    );
  }

  /**
   * Like listObjects, as stored JSON texts (offline LIST joins them into the answer without a
   * parse/serialise round trip). Selectors are validated against the resource: SelectorError.
   */
  listBodyTexts(gvr: Gvr, namespace: string, labelSelector: string, fieldSelector: string): string[] {
    return this.listEntries(gvr, namespace, labelSelector, fieldSelector).map((e) => e.text);
  }

  /** Like listBodyTexts, with each object's (namespace, name) for paging. */
  listEntries(gvr: Gvr, namespace: string, labelSelector: string, fieldSelector: string): StoredEntry[] {
    return this.file.guard(() =>
      this.objects.entries(this.tables(gvr), { gvr, namespace, labelSelector, fieldSelector }),
    );
  }

  /**
   * One page of listBodyTexts: up to `limit` rows of the namespace are read after `after` (the
   * cursor of the previous page), those in scope returned as stored texts. `next` is undefined at
   * the end. A watch streams its initial state this way, never holding the whole scope.
   */
  listTextsPage(
    scope: Scope,
    after: StoreCursor | undefined,
    limit: number,
  ): { texts: string[]; next: StoreCursor | undefined } {
    return this.objects.page(this.tables(scope.gvr), scope, after, limit);
  }

  scopeVersions(scope: Scope): { name: string; rv: string }[] {
    return this.objects.versions(this.tables(scope.gvr), scope);
  }

  // ------------------------------------------------------------------ history

  resourceVersion(gvr: Gvr): string {
    return this.file.guard(() => this.history.resourceVersion(this.tables(gvr), gvr));
  }

  historyFloor(gvr: Gvr): string {
    return this.file.guard(() => this.history.floor(this.tables(gvr), gvr));
  }

  tombstonesSince(gvr: Gvr, resourceVersion: string): Tombstone[] {
    return this.file.guard(() => this.history.tombstonesSince(this.tables(gvr), gvr, resourceVersion));
  }

  objectsNewerThan(gvr: Gvr, resourceVersion: string): KubeObject[] {
    return this.file.guard(() => this.history.objectsNewerThan(this.tables(gvr), gvr, resourceVersion));
  }

  // ------------------------------------------------------------------ raw answers

  /** An answer kept verbatim (discovery, OpenAPI, /version); `etag` '' when upstream sent none. */
  putRaw(key: string, contentType: string, body: Buffer, etag = ''): void {
    this.file.guard(() => this.file.raw.put(key, contentType, body, etag));
  }

  getRaw(key: string): RawAnswer | undefined {
    return this.file.guard(() => this.file.raw.get(key));
  }

  /** Every answer kept verbatim, by key (start-up relearns resource facts from discovery). */
  rawAnswers(): (RawAnswer & { key: string })[] {
    return this.file.guard(() => this.file.raw.all());
  }

  // ------------------------------------------------------------------ housekeeping

  /** Runs fn in one transaction (the CacheWriter batches queued writes with it). */
  batch(fn: () => void): void {
    this.file.tx(fn);
  }

  /** Objects, bytes and last write per resource, for metrics and `islet doctor`. */
  stats(): ResourceStats[] {
    return this.file.guard(() => {
      const out: ResourceStats[] = [];
      for (const t of [this.file.disk, this.file.mem]) {
        const rvs = new Map(t.resAll.all().map((r) => [`${r.grp}/${r.ver}/${r.res}`, r.rv]));
        for (const r of t.stats.all()) {
          out.push({
            gvr: { group: r.grp, version: r.ver, resource: r.res },
            objects: r.n,
            bytes: r.bytes ?? 0,
            lastUpdate: r.last ?? 0,
            resourceVersion: rvs.get(`${r.grp}/${r.ver}/${r.res}`) ?? '',
            persisted: t === this.file.disk,
          });
        }
      }
      return out;
    });
  }

  close(): void {
    this.lru.clear();
    this.file.close();
  }

  /**
   * The namespace an object of this resource is stored under: '' for cluster-scoped resources,
   * whose requests may still carry one (GET /api/v1/namespaces/NS names NS as its namespace).
   */
  private nsOf(gvr: Gvr, namespace: string): string {
    return namespace && resourceFacts(gvr)?.namespaced === false ? '' : namespace;
  }

  private tables(gvr: Gvr): Tables {
    return !this.persistSecrets && gvr.group === '' && gvr.resource === 'secrets'
      ? this.file.mem
      : this.file.disk;
  }
}
