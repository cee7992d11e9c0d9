/**
 * The durable object cache. Each object is stored once per (group, version, resource, namespace,
 * name) as its JSON bytes plus the metadata clients select on (labels, field-selector fields,
 * spec.nodeName); views record what each identity listed and whether the store holds all of it.
 *
 * - SQLite via lib/sqlite.ts (WAL, synchronous=FULL, 0600); every change is one transaction, so a
 *   crash leaves the state before or after it, never half of it.
 * - The schema version is in the table names (`objects_v1`): a future layout gets new tables and
 *   never misreads old ones.
 * - Secrets can be kept off disk (`persistSecrets: false`): they then live in an attached
 *   in-memory database with the same tables, so every code path is the same.
 * - resourceVersions never go backwards for an object: an older version arriving late (a LIST
 *   racing a watch) is ignored, and so is an older version of an object already deleted.
 * - Deletions leave a bounded tombstone so a watcher resuming from an older RV can get DELETED.
 */
import { rmSync } from 'node:fs';
import type { Statement } from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { type Database, openDatabase } from '../../lib/sqlite.js';
import { apiVersionOf, resourceFacts } from '../gvr.js';
import { compareRv, isNumericRv, newerRv, rvNumber } from '../resource-version.js';
import {
  type FieldSelector,
  fieldSelectorCovers,
  fieldValues,
  type LabelSelector,
  labelSelectorCovers,
  matchesFieldValues,
  matchesLabelSelector,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  supportedFields,
} from '../selectors.js';
import type {
  CacheStoreApi,
  Gvr,
  KubeList,
  KubeObject,
  RawAnswer,
  StoreCursor,
  Tombstone,
  ViewKey,
  ViewState,
  WatchEvent,
} from '../types.js';
import { CacheCorruptError, isCacheCorruption, setAsideCorrupt } from './corruption.js';

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

export interface CorruptionEvent {
  path: string;
  /** Where the damaged file went ('' when it could not be moved and was removed instead). */
  movedTo: string;
  /** 'open': found at start-up; 'runtime': an SQLite error while serving. */
  phase: 'open' | 'runtime';
  error: Error;
  /** ms the start-up integrity check took (phase 'open' only). */
  checkMs?: number;
}

/** A list without its items: what a view records of it. */
export type ListEnvelope = Omit<KubeList, 'items'>;

/** One list item: the object and, when the caller has it, its exact JSON text (stored as is). */
export interface ListItem {
  object: KubeObject;
  text?: string;
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

/** The row shape used to filter by scope without parsing bodies. */
interface IndexRow {
  ns: string;
  name: string;
  rv: string;
  labels: string;
  fields: string;
}

interface BodyRow extends IndexRow {
  body: Buffer;
}

interface ViewRow {
  identity: string;
  grp: string;
  ver: string;
  res: string;
  ns: string;
  lsel: string;
  fsel: string;
  complete: number;
  list_rv: string;
  list_kind: string;
  list_api_version: string;
  updated_at: number;
}

const SCHEMA = 'islet-cache-v1';

/**
 * SQLite page cache of the cache file, in KiB. better-sqlite3 builds SQLite with 16 MB per
 * connection, which a 10,000-pod cache fills and never gives back; the kernel's page cache keeps
 * the file warm anyway, so a small private cache costs a read() per cold page and nothing else.
 */
const CACHE_PAGES_KIB = 2048;

function ddl(s: string): string {
  return `
  CREATE TABLE IF NOT EXISTS ${s}.objects_v1 (
    grp TEXT NOT NULL, ver TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, rv TEXT NOT NULL, rv_num INTEGER, labels TEXT NOT NULL, fields TEXT NOT NULL,
    node_name TEXT NOT NULL, body BLOB NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (grp, ver, res, ns, name));
  CREATE INDEX IF NOT EXISTS ${s}.objects_v1_node ON objects_v1 (grp, ver, res, node_name, ns, name);
  CREATE INDEX IF NOT EXISTS ${s}.objects_v1_rv ON objects_v1 (grp, ver, res, rv_num);
  CREATE TABLE IF NOT EXISTS ${s}.views_v1 (
    identity TEXT NOT NULL, grp TEXT NOT NULL, ver TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL,
    lsel TEXT NOT NULL, fsel TEXT NOT NULL, complete INTEGER NOT NULL, list_rv TEXT NOT NULL,
    list_kind TEXT NOT NULL, list_api_version TEXT NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (identity, grp, ver, res, ns, lsel, fsel));
  CREATE TABLE IF NOT EXISTS ${s}.resources_v1 (
    grp TEXT NOT NULL, ver TEXT NOT NULL, res TEXT NOT NULL, rv TEXT NOT NULL, floor TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (grp, ver, res));
  CREATE TABLE IF NOT EXISTS ${s}.tombstones_v1 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL, ver TEXT NOT NULL, res TEXT NOT NULL,
    ns TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL, rv TEXT NOT NULL, rv_num INTEGER,
    guard_rv TEXT NOT NULL, body BLOB NOT NULL, deleted_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS ${s}.tombstones_v1_key ON tombstones_v1 (grp, ver, res, ns, name, seq);
  CREATE INDEX IF NOT EXISTS ${s}.tombstones_v1_gvr ON tombstones_v1 (grp, ver, res, seq);
  CREATE TABLE IF NOT EXISTS ${s}.grants_v1 (
    identity TEXT NOT NULL, grp TEXT NOT NULL, ver TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY (identity, grp, ver, res, ns, name)) WITHOUT ROWID;
  `;
}

const G = 'grp = ? AND ver = ? AND res = ?';

/** The prepared statements of one schema (main on disk, mem for in-memory-only resources). */
class Tables {
  readonly getBody: Statement<unknown[], { body: Buffer }>;
  readonly getRow: Statement<unknown[], { rv: string; uid: string; body: Buffer }>;
  readonly getRv: Statement<unknown[], { rv: string }>;
  readonly upsert: Statement;
  readonly del: Statement;
  readonly scopeAll: Statement<unknown[], IndexRow>;
  readonly scopeNs: Statement<unknown[], IndexRow>;
  /** Keyset pages in (ns, name) order, on the primary key: a page costs its rows, not the table. */
  readonly pageAll: Statement<unknown[], BodyRow>;
  readonly pageNs: Statement<unknown[], BodyRow>;
  readonly listAll: Statement<unknown[], BodyRow>;
  readonly listNs: Statement<unknown[], BodyRow>;
  readonly listNode: Statement<unknown[], BodyRow>;
  readonly listNsNode: Statement<unknown[], BodyRow>;
  readonly newer: Statement<unknown[], { body: Buffer }>;
  readonly allByRv: Statement<unknown[], { body: Buffer }>;
  readonly tombInsert: Statement;
  readonly tombGuard: Statement<unknown[], { guard_rv: string }>;
  readonly tombSince: Statement<
    unknown[],
    { ns: string; name: string; uid: string; rv: string; body: Buffer }
  >;
  readonly tombAll: Statement<unknown[], { ns: string; name: string; uid: string; rv: string; body: Buffer }>;
  readonly tombCut: Statement<unknown[], { seq: number }>;
  readonly tombPrunedMaxRv: Statement<unknown[], { rv: string }>;
  readonly tombPrune: Statement;
  readonly resGet: Statement<unknown[], { rv: string; floor: string }>;
  readonly resPut: Statement;
  readonly viewPut: Statement;
  readonly viewIncomplete: Statement;
  readonly viewsIncompleteGvr: Statement;
  readonly viewsOf: Statement<unknown[], ViewRow>;
  readonly grantPut: Statement;
  readonly grantGet: Statement<unknown[], { n: number }>;
  readonly stats: Statement<
    unknown[],
    { grp: string; ver: string; res: string; n: number; bytes: number; last: number }
  >;
  readonly resAll: Statement<unknown[], { grp: string; ver: string; res: string; rv: string }>;

  constructor(
    db: Database,
    readonly schema: string,
  ) {
    const t = (name: string) => `${schema}.${name}_v1`;
    const cols = 'ns, name, rv, labels, fields';
    this.getBody = db.prepare(`SELECT body FROM ${t('objects')} WHERE ${G} AND ns = ? AND name = ?`);
    this.getRow = db.prepare(`SELECT rv, uid, body FROM ${t('objects')} WHERE ${G} AND ns = ? AND name = ?`);
    this.getRv = db.prepare(`SELECT rv FROM ${t('objects')} WHERE ${G} AND ns = ? AND name = ?`);
    this.upsert = db.prepare(
      `INSERT INTO ${t('objects')} (grp, ver, res, ns, name, uid, rv, rv_num, labels, fields, node_name, body, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (grp, ver, res, ns, name) DO UPDATE SET uid = excluded.uid, rv = excluded.rv,
         rv_num = excluded.rv_num, labels = excluded.labels, fields = excluded.fields,
         node_name = excluded.node_name, body = excluded.body, updated_at = excluded.updated_at`,
    );
    this.del = db.prepare(`DELETE FROM ${t('objects')} WHERE ${G} AND ns = ? AND name = ?`);
    this.scopeAll = db.prepare(`SELECT ${cols} FROM ${t('objects')} WHERE ${G} ORDER BY ns || '/' || name`);
    this.scopeNs = db.prepare(`SELECT ${cols} FROM ${t('objects')} WHERE ${G} AND ns = ? ORDER BY name`);
    this.pageAll = db.prepare(
      `SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} AND (ns, name) > (?, ?) ORDER BY ns, name LIMIT ?`,
    );
    this.pageNs = db.prepare(
      `SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} AND ns = ? AND name > ? ORDER BY name LIMIT ?`,
    );
    this.listAll = db.prepare(
      `SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} ORDER BY ns || '/' || name`,
    );
    this.listNs = db.prepare(`SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} AND ns = ? ORDER BY name`);
    this.listNode = db.prepare(
      `SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} AND node_name = ? ORDER BY ns || '/' || name`,
    );
    this.listNsNode = db.prepare(
      `SELECT ${cols}, body FROM ${t('objects')} WHERE ${G} AND node_name = ? AND ns = ? ORDER BY name`,
    );
    this.newer = db.prepare(
      `SELECT body FROM ${t('objects')} WHERE ${G} AND rv_num > ? ORDER BY rv_num, ns, name`,
    );
    this.allByRv = db.prepare(`SELECT body FROM ${t('objects')} WHERE ${G} ORDER BY rv_num, ns, name`);
    this.tombInsert = db.prepare(
      `INSERT INTO ${t('tombstones')} (grp, ver, res, ns, name, uid, rv, rv_num, guard_rv, body, deleted_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.tombGuard = db.prepare(
      `SELECT guard_rv FROM ${t('tombstones')} WHERE ${G} AND ns = ? AND name = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.tombSince = db.prepare(
      `SELECT ns, name, uid, rv, body FROM ${t('tombstones')} WHERE ${G} AND rv_num > ? ORDER BY seq`,
    );
    this.tombAll = db.prepare(
      `SELECT ns, name, uid, rv, body FROM ${t('tombstones')} WHERE ${G} ORDER BY seq`,
    );
    this.tombCut = db.prepare(
      `SELECT seq FROM ${t('tombstones')} WHERE ${G} ORDER BY seq DESC LIMIT 1 OFFSET ?`,
    );
    this.tombPrunedMaxRv = db.prepare(
      `SELECT rv FROM ${t('tombstones')} WHERE ${G} AND seq <= ? ORDER BY rv_num DESC, seq DESC LIMIT 1`,
    );
    this.tombPrune = db.prepare(`DELETE FROM ${t('tombstones')} WHERE ${G} AND seq <= ?`);
    this.resGet = db.prepare(`SELECT rv, floor FROM ${t('resources')} WHERE ${G}`);
    this.resPut = db.prepare(
      `INSERT INTO ${t('resources')} (grp, ver, res, rv, floor, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (grp, ver, res) DO UPDATE SET rv = excluded.rv, floor = excluded.floor, updated_at = excluded.updated_at`,
    );
    this.resAll = db.prepare(`SELECT grp, ver, res, rv FROM ${t('resources')}`);
    this.viewPut = db.prepare(
      `INSERT INTO ${t('views')} (identity, grp, ver, res, ns, lsel, fsel, complete, list_rv, list_kind, list_api_version, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (identity, grp, ver, res, ns, lsel, fsel) DO UPDATE SET complete = excluded.complete,
         list_rv = excluded.list_rv, list_kind = excluded.list_kind,
         list_api_version = excluded.list_api_version, updated_at = excluded.updated_at`,
    );
    this.viewIncomplete = db.prepare(
      `UPDATE ${t('views')} SET complete = 0, updated_at = ? WHERE identity = ? AND ${G} AND ns = ? AND lsel = ? AND fsel = ?`,
    );
    this.viewsIncompleteGvr = db.prepare(`UPDATE ${t('views')} SET complete = 0, updated_at = ? WHERE ${G}`);
    this.viewsOf = db.prepare(
      `SELECT * FROM ${t('views')} WHERE identity = ? AND ${G} ORDER BY updated_at DESC`,
    );
    this.grantPut = db.prepare(
      `INSERT OR IGNORE INTO ${t('grants')} (identity, grp, ver, res, ns, name) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.grantGet = db.prepare(
      `SELECT count(*) AS n FROM ${t('grants')} WHERE identity = ? AND ${G} AND ns = ? AND name = ?`,
    );
    this.stats = db.prepare(
      `SELECT grp, ver, res, count(*) AS n, sum(length(body)) AS bytes, max(updated_at) AS last
       FROM ${t('objects')} GROUP BY grp, ver, res`,
    );
  }
}

export class CacheStore implements CacheStoreApi {
  // Replaced together when a damaged file is set aside (replaceDamaged()).
  private db!: Database;
  private disk!: Tables;
  private mem!: Tables;
  private putRawStmt!: Statement;
  private getRawStmt!: Statement<unknown[], { content_type: string; body: Buffer; etag: string }>;
  private allRawStmt!: Statement<
    unknown[],
    { key: string; content_type: string; body: Buffer; etag: string }
  >;
  /** better-sqlite3 builds a wrapper per transaction() call: build it once (nested calls are savepoints). */
  private runTx!: (fn: () => void) => void;
  private readonly path: string;
  private readonly onCorrupt: ((event: CorruptionEvent) => void) | undefined;
  private readonly persistSecrets: boolean;
  private readonly lru: LRUCache<string, string>;
  private readonly maxTombstones: number;
  private readonly tombstoneInserts = new Map<string, number>();
  private closed = false;
  /** Nesting of guarded calls; a damaged file is replaced only when the outermost one ends. */
  private depth = 0;
  private corruption: Error | undefined;
  /**
   * Bumped each time the file is replaced: what a caller stored before (e.g. the first pages of a
   * chunked list) is gone, so it must not complete anything with it.
   */
  generation = 0;

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
    this.maxTombstones = opts.maxTombstonesPerResource ?? 10_000;
    if (!Number.isInteger(this.maxTombstones) || this.maxTombstones < 1) {
      throw new Error(
        `CacheStore: maxTombstonesPerResource must be a positive integer, got ${this.maxTombstones}`,
      );
    }
    this.persistSecrets = opts.persistSecrets ?? true;
    this.lru = new LRUCache<string, string>({
      max: lruMax,
      maxSize: lruMaxBytes,
      sizeCalculation: (v) => Math.max(1, v.length),
    });

    this.path = opts.path;
    this.onCorrupt = opts.onCorrupt;
    const started = performance.now();
    try {
      this.open(true);
    } catch (err) {
      if (!isCacheCorruption(err)) throw err;
      const checkMs = Math.round(performance.now() - started);
      this.replaceDamaged(err as Error, 'open', checkMs);
    }
  }

  /**
   * Opens the file and prepares everything. `check` runs PRAGMA quick_check first: it reads every
   * page once (measured: 15-35 ms for 10,000 pods of 1-4 KB, a 21-47 MB file, from the page
   * cache; a cold read is bound by the disk's read rate), which start-up can afford and which
   * catches damage a query would only meet later, maybe offline.
   */
  private open(check: boolean): void {
    this.db = openDatabase(this.path);
    try {
      if (check) {
        const verdict = this.db.pragma('quick_check(1)', { simple: true });
        if (verdict !== 'ok') throw new CacheCorruptError(`integrity check failed: ${String(verdict)}`);
      }
      this.db.pragma(`main.cache_size = -${CACHE_PAGES_KIB}`);
      this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as
        | { value: string }
        | undefined;
      if (row && row.value !== SCHEMA) {
        throw new Error(
          `CacheStore: ${this.path} holds schema "${row.value}", this version reads "${SCHEMA}"`,
        );
      }
      this.db.exec("ATTACH DATABASE ':memory:' AS mem");
      this.db.exec(ddl('main'));
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS raw_v1 (key TEXT PRIMARY KEY, content_type TEXT NOT NULL, body BLOB NOT NULL, updated_at INTEGER NOT NULL)',
      );
      // Added after raw_v1 shipped: files from then gain the column (recorded answers had no ETag).
      const rawColumns = this.db.prepare('SELECT name FROM pragma_table_info(?)').all('raw_v1') as {
        name: string;
      }[];
      if (!rawColumns.some((c) => c.name === 'etag'))
        this.db.exec("ALTER TABLE raw_v1 ADD COLUMN etag TEXT NOT NULL DEFAULT ''");
      this.db.exec(ddl('mem'));
      this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA);
      this.disk = new Tables(this.db, 'main');
      this.mem = new Tables(this.db, 'mem');
      this.putRawStmt = this.db.prepare(
        `INSERT INTO raw_v1 (key, content_type, body, etag, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, etag = excluded.etag, updated_at = excluded.updated_at`,
      );
      this.getRawStmt = this.db.prepare('SELECT content_type, body, etag FROM raw_v1 WHERE key = ?');
      this.allRawStmt = this.db.prepare('SELECT key, content_type, body, etag FROM raw_v1 ORDER BY key');
      this.runTx = this.db.transaction((fn: () => void) => fn());
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** Moves the damaged file aside, tells onCorrupt, and opens an empty one in its place. */
  private replaceDamaged(error: Error, phase: CorruptionEvent['phase'], checkMs?: number): void {
    let movedTo = '';
    try {
      movedTo = setAsideCorrupt(this.path);
    } catch {
      // Could not rename (read-only dir?): opening it again would fail the same way; removing
      // it is the only way on. SQLite's own files only.
      for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) rmSync(f, { force: true });
    }
    this.lru.clear();
    this.tombstoneInserts.clear();
    this.generation++;
    this.open(false);
    this.onCorrupt?.({
      path: this.path,
      movedTo,
      phase,
      error,
      ...(checkMs === undefined ? {} : { checkMs }),
    });
  }

  /**
   * Runs one store operation. An SQLite error saying the file is damaged is passed on to the
   * caller (its answer is lost), and once the outermost operation is over the file is replaced,
   * so the next one works instead of failing the same way forever.
   */
  private guard<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } catch (err) {
      if (isCacheCorruption(err)) this.corruption ??= err as Error;
      throw err;
    } finally {
      this.depth--;
      if (this.depth === 0 && this.corruption && !this.closed) {
        const error = this.corruption;
        this.corruption = undefined;
        try {
          this.db.close();
        } catch {
          // Closing a damaged file may fail too; it is replaced either way.
        }
        this.replaceDamaged(error, 'runtime');
      }
    }
  }

  // ------------------------------------------------------------------ objects

  getObject(gvr: Gvr, namespace: string, name: string): KubeObject | undefined {
    const body = this.getBodyText(gvr, namespace, name);
    return body === undefined ? undefined : (JSON.parse(body) as KubeObject);
  }

  /** The stored JSON text of an object (what offline GET sends), without a parse. */
  getBodyText(gvr: Gvr, namespace: string, name: string): string | undefined {
    return this.guard(() => {
      const t = this.tables(gvr);
      const ns = this.nsOf(gvr, namespace);
      const key = lruKey(t, gvr, ns, name);
      const hit = this.lru.get(key);
      if (hit !== undefined) return hit;
      const row = t.getBody.get(gvr.group, gvr.version, gvr.resource, ns, name);
      if (!row) return undefined;
      const text = row.body.toString('utf8');
      // Inside a transaction the row may yet be rolled back: only committed state is cached.
      if (!this.db.inTransaction) this.lru.set(key, text);
      return text;
    });
  }

  /** `text`, when given, is the exact JSON of `obj` (upstream's bytes): stored without a re-serialise. */
  /** The resourceVersion held for an object, without reading its body; undefined when not held. */
  objectResourceVersion(gvr: Gvr, namespace: string, name: string): string | undefined {
    return this.guard(() => {
      const ns = this.nsOf(gvr, namespace);
      return this.tables(gvr).getRv.get(gvr.group, gvr.version, gvr.resource, ns, name)?.rv;
    });
  }

  upsertObject(gvr: Gvr, obj: KubeObject, text?: string): void {
    checkObject(obj);
    this.tx(() => {
      this.upsertIn(this.tables(gvr), gvr, obj, true, text);
    });
  }

  deleteObject(gvr: Gvr, namespace: string, name: string, resourceVersion?: string): void {
    this.tx(() => {
      this.deleteIn(
        this.tables(gvr),
        gvr,
        this.nsOf(gvr, namespace),
        name,
        resourceVersion ?? '',
        resourceVersion ?? '',
        undefined,
      );
    });
  }

  applyWatchEvent(gvr: Gvr, ev: WatchEvent): void {
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.upsertObject(gvr, ev.object);
        return;
      case 'DELETED': {
        checkObject(ev.object);
        const m = ev.object.metadata;
        const rv = m.resourceVersion ?? '';
        this.tx(() => this.deleteIn(this.tables(gvr), gvr, m.namespace ?? '', m.name, rv, rv, ev.object));
        return;
      }
      case 'BOOKMARK': {
        const rv = ev.object?.metadata?.resourceVersion;
        if (rv) this.tx(() => this.advanceRv(this.tables(gvr), gvr, rv));
        return;
      }
      case 'ERROR':
        return;
      default:
        throw new Error(`unknown watch event type ${(ev as { type: unknown }).type}`);
    }
  }

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
    this.tx(() => {
      const names = this.upsertItems(view.gvr, envelope, items, false);
      this.completeViewIn(view, envelope, names);
    });
  }

  /**
   * The items of one page of a chunked list (kind and apiVersion filled in from the list, as
   * applyList does); returns their "namespace/name" keys for completeView.
   */
  upsertListPage(gvr: Gvr, envelope: ListEnvelope, items: Iterable<ListItem>): Set<string> {
    let names = new Set<string>();
    this.tx(() => {
      names = this.upsertItems(gvr, envelope, items, true);
    });
    return names;
  }

  /**
   * Completes a view from a list whose items are already stored (the pages of a chunked list):
   * what the scope held and `names` lacks is gone, the view is complete at the list's RV.
   */
  completeView(view: ViewKey, envelope: ListEnvelope, names: ReadonlySet<string>): void {
    this.tx(() => this.completeViewIn(view, envelope, names));
  }

  markViewIncomplete(view: ViewKey): void {
    this.guard(() => {
      const { gvr } = view;
      this.tables(gvr).viewIncomplete.run(Date.now(), ...viewColumns(view));
      // Whatever was lost may include deletions: history is no longer reconstructable from here.
      this.forgetHistory(gvr);
    });
  }

  markGvrIncomplete(gvr: Gvr): void {
    this.tx(() => {
      this.tables(gvr).viewsIncompleteGvr.run(Date.now(), gvr.group, gvr.version, gvr.resource);
      this.forgetHistory(gvr);
    });
  }

  findCoveringView(view: ViewKey): ViewState | undefined {
    return this.guard(() => {
      const { gvr } = view;
      let lsel: LabelSelector;
      let fsel: FieldSelector;
      try {
        lsel = parseLabelSelector(view.labelSelector);
        fsel = parseFieldSelector(view.fieldSelector);
      } catch (err) {
        if (err instanceof SelectorError) return undefined;
        throw err;
      }
      const rows = this.tables(gvr).viewsOf.all(view.identity, gvr.group, gvr.version, gvr.resource);
      let best: ViewRow | undefined;
      for (const r of rows) {
        if (r.complete !== 1) continue;
        if (r.ns !== '' && r.ns !== view.namespace) continue;
        try {
          if (!labelSelectorCovers(r.lsel, lsel) || !fieldSelectorCovers(r.fsel, fsel)) continue;
        } catch (err) {
          if (err instanceof SelectorError) continue;
          throw err;
        }
        const exact =
          r.ns === view.namespace && r.lsel === view.labelSelector && r.fsel === view.fieldSelector;
        if (exact) return viewState(r);
        best ??= r;
      }
      return best ? viewState(best) : undefined;
    });
  }

  /** Every view of an identity for a gvr, complete or not (for doctor and tests). */
  views(identity: string, gvr: Gvr): ViewState[] {
    return this.guard(() => {
      return this.tables(gvr).viewsOf.all(identity, gvr.group, gvr.version, gvr.resource).map(viewState);
    });
  }

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
  listEntries(
    gvr: Gvr,
    namespace: string,
    labelSelector: string,
    fieldSelector: string,
  ): { namespace: string; name: string; text: string }[] {
    return this.guard(() => {
      const lsel = parseLabelSelector(labelSelector);
      const fsel = parseFieldSelector(fieldSelector, gvr);
      const t = this.tables(gvr);
      const node = nodeNameFilter(gvr, fsel);
      const g = [gvr.group, gvr.version, gvr.resource] as const;
      let rows: BodyRow[];
      if (node !== undefined)
        rows = namespace ? t.listNsNode.all(...g, node, namespace) : t.listNode.all(...g, node);
      else rows = namespace ? t.listNs.all(...g, namespace) : t.listAll.all(...g);
      const out: { namespace: string; name: string; text: string }[] = [];
      for (const r of rows)
        if (inScope(r, lsel, fsel))
          out.push({ namespace: r.ns, name: r.name, text: r.body.toString('utf8') });
      return out;
    });
  }

  /**
   * One page of listBodyTexts: up to `limit` rows of the namespace are read after `after` (the
   * cursor of the previous page), those in scope returned as stored texts. `next` is undefined at
   * the end. A watch streams its initial state this way, never holding the whole scope.
   */
  listTextsPage(
    gvr: Gvr,
    namespace: string,
    labelSelector: string,
    fieldSelector: string,
    after: StoreCursor | undefined,
    limit: number,
  ): { texts: string[]; next: StoreCursor | undefined } {
    const lsel = parseLabelSelector(labelSelector);
    const fsel = parseFieldSelector(fieldSelector, gvr);
    const t = this.tables(gvr);
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const rows = namespace
      ? t.pageNs.all(...g, namespace, after?.name ?? '', limit)
      : t.pageAll.all(...g, after?.namespace ?? '', after?.name ?? '', limit);
    const texts: string[] = [];
    for (const r of rows) if (inScope(r, lsel, fsel)) texts.push(r.body.toString('utf8'));
    const last = rows[rows.length - 1];
    return {
      texts,
      next: rows.length < limit || !last ? undefined : { namespace: last.ns, name: last.name },
    };
  }

  /** "namespace/name" and resourceVersion of the objects in scope, without their bodies. */
  scopeVersions(
    gvr: Gvr,
    namespace: string,
    labelSelector: string,
    fieldSelector: string,
  ): { name: string; rv: string }[] {
    const lsel = parseLabelSelector(labelSelector);
    const fsel = parseFieldSelector(fieldSelector, gvr);
    const out: { name: string; rv: string }[] = [];
    for (const r of this.scopeRows(this.tables(gvr), gvr, namespace))
      if (inScope(r, lsel, fsel)) out.push({ name: `${r.ns}/${r.name}`, rv: r.rv });
    return out;
  }

  resourceVersion(gvr: Gvr): string {
    return this.guard(() => {
      return this.tables(gvr).resGet.get(gvr.group, gvr.version, gvr.resource)?.rv ?? '';
    });
  }

  historyFloor(gvr: Gvr): string {
    return this.guard(() => {
      return this.tables(gvr).resGet.get(gvr.group, gvr.version, gvr.resource)?.floor ?? '';
    });
  }

  tombstonesSince(gvr: Gvr, resourceVersion: string): Tombstone[] {
    return this.guard(() => {
      const t = this.tables(gvr);
      const since = rvNumber(resourceVersion);
      const rows =
        since === null
          ? t.tombAll.all(gvr.group, gvr.version, gvr.resource)
          : t.tombSince.all(gvr.group, gvr.version, gvr.resource, since);
      return rows.map((r) => ({
        namespace: r.ns,
        name: r.name,
        uid: r.uid,
        resourceVersion: r.rv,
        object: JSON.parse(r.body.toString('utf8')) as KubeObject,
      }));
    });
  }

  objectsNewerThan(gvr: Gvr, resourceVersion: string): KubeObject[] {
    return this.guard(() => {
      const t = this.tables(gvr);
      const since = rvNumber(resourceVersion);
      const rows =
        since === null
          ? t.allByRv.all(gvr.group, gvr.version, gvr.resource)
          : t.newer.all(gvr.group, gvr.version, gvr.resource, since);
      return rows.map((r) => JSON.parse(r.body.toString('utf8')) as KubeObject);
    });
  }

  grant(identity: string, gvr: Gvr, namespace: string, name: string): void {
    this.guard(() => {
      this.tables(gvr).grantPut.run(
        identity,
        gvr.group,
        gvr.version,
        gvr.resource,
        this.nsOf(gvr, namespace),
        name,
      );
    });
  }

  mayRead(identity: string, gvr: Gvr, obj: KubeObject): boolean {
    return this.guard(() => {
      const t = this.tables(gvr);
      const ns = obj.metadata.namespace ?? '';
      if ((t.grantGet.get(identity, gvr.group, gvr.version, gvr.resource, ns, obj.metadata.name)?.n ?? 0) > 0)
        return true;
      const row: IndexRow = {
        ns,
        name: obj.metadata.name,
        rv: '',
        labels: JSON.stringify(obj.metadata.labels ?? {}),
        fields: JSON.stringify(fieldValues(obj, gvr)),
      };
      for (const v of t.viewsOf.all(identity, gvr.group, gvr.version, gvr.resource)) {
        if (v.ns !== '' && v.ns !== ns) continue;
        try {
          if (inScope(row, parseLabelSelector(v.lsel), parseFieldSelector(v.fsel))) return true;
        } catch (err) {
          if (!(err instanceof SelectorError)) throw err;
        }
      }
      return false;
    });
  }

  // ------------------------------------------------------------------ raw answers

  /** An answer kept verbatim (discovery, OpenAPI, /version); `etag` '' when upstream sent none. */
  putRaw(key: string, contentType: string, body: Buffer, etag = ''): void {
    this.guard(() => {
      this.putRawStmt.run(key, contentType, body, etag, Date.now());
    });
  }

  getRaw(key: string): RawAnswer | undefined {
    return this.guard(() => {
      const row = this.getRawStmt.get(key);
      return row ? { contentType: row.content_type, body: row.body, etag: row.etag } : undefined;
    });
  }

  /** Every answer kept verbatim, by key (start-up relearns resource facts from discovery). */
  rawAnswers(): (RawAnswer & { key: string })[] {
    return this.guard(() =>
      this.allRawStmt
        .all()
        .map((r) => ({ key: r.key, contentType: r.content_type, body: r.body, etag: r.etag })),
    );
  }

  // ------------------------------------------------------------------ housekeeping

  /** Runs fn in one transaction (the CacheWriter batches queued writes with it). */
  batch(fn: () => void): void {
    this.tx(fn);
  }

  /** Objects, bytes and last write per resource, for metrics and `islet doctor`. */
  stats(): ResourceStats[] {
    return this.guard(() => {
      const out: ResourceStats[] = [];
      for (const t of [this.disk, this.mem]) {
        const rvs = new Map(t.resAll.all().map((r) => [`${r.grp}/${r.ver}/${r.res}`, r.rv]));
        for (const r of t.stats.all()) {
          out.push({
            gvr: { group: r.grp, version: r.ver, resource: r.res },
            objects: r.n,
            bytes: r.bytes ?? 0,
            lastUpdate: r.last ?? 0,
            resourceVersion: rvs.get(`${r.grp}/${r.ver}/${r.res}`) ?? '',
            persisted: t === this.disk,
          });
        }
      }
      return out;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lru.clear();
    this.db.close();
  }

  // ------------------------------------------------------------------ internals

  /**
   * The namespace an object of this resource is stored under: '' for cluster-scoped resources,
   * whose requests may still carry one (GET /api/v1/namespaces/NS names NS as its namespace).
   */
  private nsOf(gvr: Gvr, namespace: string): string {
    return namespace && resourceFacts(gvr)?.namespaced === false ? '' : namespace;
  }

  private tables(gvr: Gvr): Tables {
    return !this.persistSecrets && gvr.group === '' && gvr.resource === 'secrets' ? this.mem : this.disk;
  }

  /** One transaction; nested calls become savepoints, so a failing inner change rolls back alone. */
  private tx(fn: () => void): void {
    this.guard(() => this.runTx(fn));
  }

  private upsertItems(
    gvr: Gvr,
    envelope: ListEnvelope,
    items: Iterable<ListItem>,
    advance: boolean,
  ): Set<string> {
    const itemKind = envelope.kind?.endsWith('List') ? envelope.kind.slice(0, -4) : resourceFacts(gvr)?.kind;
    const itemApiVersion = envelope.apiVersion || apiVersionOf(gvr);
    const t = this.tables(gvr);
    const names = new Set<string>();
    for (const { object, text } of items) {
      checkObject(object);
      // List items come without kind/apiVersion; stored objects carry them (offline GET answers them),
      // first, as the API server encodes a typed object (watch events built from these must match).
      const missing = [
        ...(object.kind || !itemKind ? [] : [['kind', itemKind] as const]),
        ...(object.apiVersion ? [] : [['apiVersion', itemApiVersion] as const]),
      ];
      if (missing.length === 0) this.upsertIn(t, gvr, object, advance, text);
      else {
        const filled = { ...Object.fromEntries(missing), ...object } as KubeObject;
        this.upsertIn(t, gvr, filled, advance, text === undefined ? undefined : withKeys(text, missing));
      }
      names.add(`${object.metadata.namespace ?? ''}/${object.metadata.name}`);
    }
    return names;
  }

  private completeViewIn(view: ViewKey, envelope: ListEnvelope, names: ReadonlySet<string>): void {
    const { gvr } = view;
    const t = this.tables(gvr);
    const listRv = envelope.metadata?.resourceVersion ?? '';
    const lsel = parseLabelSelector(view.labelSelector);
    const fsel = parseFieldSelector(view.fieldSelector);
    // What the view's scope held that the list no longer has is gone (or left the scope), unless
    // it is newer than the list (a watch event that overtook the list).
    for (const row of this.scopeRows(t, gvr, view.namespace)) {
      if (names.has(`${row.ns}/${row.name}`)) continue;
      if (!inScope(row, lsel, fsel)) continue;
      if (compareRv(row.rv, listRv) === 1) continue;
      this.deleteIn(t, gvr, row.ns, row.name, listRv, row.rv, undefined);
    }
    this.advanceRv(t, gvr, listRv);
    const res = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    if (res && res.floor === '' && listRv) {
      t.resPut.run(gvr.group, gvr.version, gvr.resource, res.rv, listRv, Date.now());
    }
    t.viewPut.run(
      ...viewColumns(view),
      1,
      listRv,
      envelope.kind || resourceFacts(gvr)?.listKind || '',
      envelope.apiVersion || apiVersionOf(gvr),
      Date.now(),
    );
  }

  private scopeRows(t: Tables, gvr: Gvr, namespace: string): IndexRow[] {
    return namespace
      ? t.scopeNs.all(gvr.group, gvr.version, gvr.resource, namespace)
      : t.scopeAll.all(gvr.group, gvr.version, gvr.resource);
  }

  /** Inserts or replaces an object unless the held state (or its deletion) is newer. */
  private upsertIn(t: Tables, gvr: Gvr, obj: KubeObject, advance = true, json?: string): void {
    const m = obj.metadata;
    const ns = m.namespace ?? '';
    const rv = m.resourceVersion ?? '';
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const held = t.getRv.get(...g, ns, m.name);
    if (held) {
      const c = compareRv(rv, held.rv);
      if (c !== undefined && c <= 0) return;
    } else {
      const tomb = t.tombGuard.get(...g, ns, m.name);
      const c = tomb ? compareRv(rv, tomb.guard_rv) : undefined;
      if (c !== undefined && c <= 0) return;
    }
    // Upstream's bytes end with a newline (the API server's encoder writes one): stored as is, it
    // would split the watch event line the object is later framed into.
    const text = json === undefined ? JSON.stringify(obj) : json.trim();
    const fields = fieldValues(obj, gvr);
    t.upsert.run(
      ...g,
      ns,
      m.name,
      m.uid ?? '',
      rv,
      rvNumber(rv),
      JSON.stringify(m.labels ?? {}),
      JSON.stringify(fields),
      fields['spec.nodeName'] ?? '',
      Buffer.from(text),
      Date.now(),
    );
    // Invalidate rather than fill: a rollback must not leave an uncommitted version cached.
    this.lru.delete(lruKey(t, gvr, ns, m.name));
    if (advance) this.advanceRv(t, gvr, rv);
  }

  /**
   * Removes an object, leaving a tombstone at `rv` (the deletion's RV, or a relist's). `guardRv`
   * is the newest RV the deletion covers: later arrivals of versions up to it are stale.
   */
  private deleteIn(
    t: Tables,
    gvr: Gvr,
    ns: string,
    name: string,
    rv: string,
    guardRv: string,
    lastState: KubeObject | undefined,
  ): void {
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const held = t.getRow.get(...g, ns, name);
    // A delete older than what we hold is about an earlier incarnation of a recreated object.
    if (held && compareRv(rv, held.rv) === -1) return;
    if (!held && !rv) return;
    const deletionRv = rv || newerRv(held?.rv ?? '', this.resourceVersion(gvr));
    let last: KubeObject =
      lastState ??
      (held ? (JSON.parse(held.body.toString('utf8')) as KubeObject) : minimalObject(gvr, ns, name));
    last = { ...last, metadata: { ...last.metadata, resourceVersion: deletionRv } };
    if (held) {
      t.del.run(...g, ns, name);
      this.lru.delete(lruKey(t, gvr, ns, name));
    }
    t.tombInsert.run(
      ...g,
      ns,
      name,
      last.metadata.uid ?? held?.uid ?? '',
      deletionRv,
      rvNumber(deletionRv),
      guardRv || deletionRv,
      Buffer.from(JSON.stringify(last)),
      Date.now(),
    );
    this.advanceRv(t, gvr, deletionRv);
    this.maybePruneTombstones(t, gvr);
  }

  private advanceRv(t: Tables, gvr: Gvr, rv: string): void {
    if (!rv) return;
    const cur = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    const next = newerRv(cur?.rv ?? '', rv);
    if (cur && next === cur.rv) return;
    t.resPut.run(gvr.group, gvr.version, gvr.resource, next, cur?.floor ?? '', Date.now());
  }

  private forgetHistory(gvr: Gvr): void {
    const t = this.tables(gvr);
    const cur = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    if (cur && cur.floor !== '') t.resPut.run(gvr.group, gvr.version, gvr.resource, cur.rv, '', Date.now());
  }

  /** Keeps at most maxTombstones per resource; checked every few deletions to stay cheap. */
  private maybePruneTombstones(t: Tables, gvr: Gvr): void {
    const k = `${t.schema}/${gvr.group}/${gvr.version}/${gvr.resource}`;
    const n = (this.tombstoneInserts.get(k) ?? 0) + 1;
    const every = Math.max(1, Math.min(256, Math.floor(this.maxTombstones / 4)));
    if (n < every) {
      this.tombstoneInserts.set(k, n);
      return;
    }
    this.tombstoneInserts.set(k, 0);
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const cut = t.tombCut.get(...g, this.maxTombstones);
    if (!cut) return;
    const prunedRv = t.tombPrunedMaxRv.get(...g, cut.seq)?.rv ?? '';
    t.tombPrune.run(...g, cut.seq);
    // Deletions up to prunedRv can no longer be replayed: history starts after them.
    const res = t.resGet.get(...g);
    if (res && res.floor !== '' && compareRv(prunedRv, res.floor) !== -1) {
      t.resPut.run(...g, res.rv, isNumericRv(prunedRv) ? prunedRv : '', Date.now());
    }
  }
}

function checkObject(obj: KubeObject): void {
  if (
    !obj ||
    typeof obj !== 'object' ||
    !obj.metadata ||
    typeof obj.metadata.name !== 'string' ||
    !obj.metadata.name
  ) {
    throw new Error('cache: object without metadata.name');
  }
}

/** `text` (a JSON object) with `keys` added in front: the stored bytes match the filled-in object. */
function withKeys(text: string, keys: readonly (readonly [string, string])[]): string {
  const open = text.indexOf('{');
  const added = keys.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('');
  return `{${added}${text.slice(open + 1)}`;
}

/** A view's key columns in the views table, in their order. */
function viewColumns(view: ViewKey): string[] {
  const { gvr } = view;
  return [
    view.identity,
    gvr.group,
    gvr.version,
    gvr.resource,
    view.namespace,
    view.labelSelector,
    view.fieldSelector,
  ];
}

function lruKey(t: Tables, gvr: Gvr, ns: string, name: string): string {
  return `${t.schema}\u0000${gvr.group}\u0000${gvr.version}\u0000${gvr.resource}\u0000${ns}\u0000${name}`;
}

function inScope(row: IndexRow, lsel: LabelSelector, fsel: FieldSelector): boolean {
  if (lsel.requirements.length && !matchesLabelSelector(JSON.parse(row.labels), lsel)) return false;
  if (fsel.requirements.length && !matchesFieldValues(JSON.parse(row.fields), fsel)) return false;
  return true;
}

/** spec.nodeName=X on pods narrows the scan to the node index (kubelet's own pod list). */
function nodeNameFilter(gvr: Gvr, fsel: FieldSelector): string | undefined {
  if (!supportedFields(gvr).includes('spec.nodeName')) return undefined;
  return fsel.requirements.find((r) => r.field === 'spec.nodeName' && r.op === '=')?.value;
}

function minimalObject(gvr: Gvr, ns: string, name: string): KubeObject {
  const kind = resourceFacts(gvr)?.kind;
  return {
    apiVersion: apiVersionOf(gvr),
    ...(kind ? { kind } : {}),
    metadata: ns ? { name, namespace: ns } : { name },
  };
}

function viewState(r: ViewRow): ViewState {
  return {
    identity: r.identity,
    gvr: { group: r.grp, version: r.ver, resource: r.res },
    namespace: r.ns,
    labelSelector: r.lsel,
    fieldSelector: r.fsel,
    complete: r.complete === 1,
    listResourceVersion: r.list_rv,
    listKind: r.list_kind,
    listApiVersion: r.list_api_version,
    updatedAt: r.updated_at,
  };
}
