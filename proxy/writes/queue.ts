import { checkSchemaVersion } from '../../lib/schema-version.js';
import { type Database, openDatabase } from '../../lib/sqlite.js';
import type { Gvr, Identity, KubeObject } from '../types.js';
import type { WriteOp } from './apply-write.js';
import { eventDedupKey, foldEvent } from './events.js';
import {
  isCorruption,
  QueueCorruptError,
  type QueueRecovery,
  type QueueRow,
  quarantineAndSalvage,
} from './queue-recovery.js';

/**
 * The durable queue of writes accepted while offline. One row per object (status writes are
 * coalesced: the op sequence grows, or an update replaces it) or per distinct event (repeats
 * are folded into a count). Rows keep the seq of their first write: replay goes in that order.
 * Every change is one SQLite transaction on a synchronous=FULL database, so kill -9 or a power
 * cut loses nothing that was answered.
 */
export type QueuedKind = 'ops' | 'create';

export interface QueueTarget {
  gvr: Gvr;
  namespace: string;
  name: string;
  subresource: string;
}

/**
 * The only identity whose writes are queued: the node's own (no credentials of the client are
 * stored; see design.md "Bearer tokens are not queued").
 */
export type NodeIdentity = Extract<Identity, { kind: 'node' }>;

export interface QueuedWrite extends QueueTarget {
  seq: number;
  key: string;
  kind: QueuedKind;
  identity: NodeIdentity;
  /** Upstream resourceVersion the local result was computed on ('' = unknown / a create). */
  baseRv: string;
  /** For 'ops': the writes to re-apply upstream, in order. */
  ops: WriteOp[];
  /** The local result (ops) or the object to create (create). */
  object: KubeObject;
  /** Client writes folded into this row. */
  writes: number;
  /** Bumped on every change, so a replay only removes the row it actually sent. */
  revision: number;
  createdAt: number;
  updatedAt: number;
}

export interface WriteQueueOptions {
  /** Rows (objects + distinct events) held at most; a write beyond it is refused, never dropped. */
  maxEntries?: number;
  /** Ops kept per object; beyond it the sequence is folded into one update of the local result. */
  maxOpsPerEntry?: number;
  now?: () => number;
  /**
   * Told after a corrupt database file was moved aside and the queue restarted with what could
   * be salvaged (only when the queue opened the file itself from a path).
   */
  onRecovered?: (r: Omit<QueueRecovery, 'rows'> & { salvaged: number }) => void;
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

type Row = QueueRow;

/** What the identity column holds for every row (the column stays, so older files still open). */
const NODE_IDENTITY_JSON = JSON.stringify({ kind: 'node', id: 'node' } satisfies NodeIdentity);

/** writes.db's layout version (lib/schema-version.ts): 1 once rows of bearer-token identities were dropped and the file rewritten. */
const SCRUBBED_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS islet_writes_v1 (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('ops', 'create')),
  grp TEXT NOT NULL,
  version TEXT NOT NULL,
  resource TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  subresource TEXT NOT NULL,
  identity TEXT NOT NULL,
  base_rv TEXT NOT NULL,
  ops TEXT NOT NULL,
  object TEXT NOT NULL,
  writes INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS islet_writes_v1_object ON islet_writes_v1 (grp, resource, namespace, name);
`;

export function objectKey(t: QueueTarget): string {
  return `object:${t.gvr.group}/${t.gvr.resource}/${t.namespace}/${t.name}/${t.subresource}`;
}

export class WriteQueue {
  db!: Database;
  private readonly path: string | undefined;
  private readonly maxEntries: number;
  private readonly maxOps: number;
  private readonly now: () => number;
  private readonly onRecovered: WriteQueueOptions['onRecovered'];
  private stmt!: ReturnType<WriteQueue['prepare']>;

  constructor(db: string | Database, opts: WriteQueueOptions = {}) {
    this.path = typeof db === 'string' ? db : undefined;
    this.maxEntries = positive(opts.maxEntries ?? 10_000, 'maxEntries');
    this.maxOps = positive(opts.maxOpsPerEntry ?? 64, 'maxOpsPerEntry');
    this.now = opts.now ?? Date.now;
    this.onRecovered = opts.onRecovered;
    if (typeof db !== 'string') {
      this.db = db;
      this.setUp();
      return;
    }
    try {
      this.db = openDatabase(db);
      this.setUp();
      this.verify();
    } catch (err) {
      if (!isCorruption(err)) throw err;
      this.recover(err);
    }
  }

  /**
   * Pragmas, the layout (lib/schema-version.ts), and the scrub of rows of other identities than
   * the node's: versions before 1 queued bearer-token writes, and an older binary may have done so
   * in a file of version 1 since. Those rows are dropped (their token must not stay at rest, and
   * they cannot be replayed as the node) and the file is rewritten, so no free page or -wal frame
   * still holds a token.
   */
  private setUp(): void {
    // deleted rows are overwritten with zeros, not left in free pages
    this.db.pragma('secure_delete = ON');
    const found = checkSchemaVersion(this.db, {
      version: SCRUBBED_VERSION,
      // VACUUM runs outside transactions; the proxy alone opens writes.db.
      transaction: 'none',
      migrate: (db) => {
        db.exec(SCHEMA);
        this.scrub(db, true);
      },
    });
    this.stmt = this.prepare();
    if (found === SCRUBBED_VERSION) this.scrub(this.db, false);
  }

  /** Drops rows of identities other than the node's; rewrites the file when any were, or `always`. */
  private scrub(db: Database, always: boolean): void {
    const dropped = db
      .prepare('DELETE FROM islet_writes_v1 WHERE identity <> ?')
      .run(NODE_IDENTITY_JSON).changes;
    if (dropped > 0 || always) {
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    if (dropped > 0) this.droppedTokenRows = dropped;
  }

  /** Writes of bearer-token identities an older version had queued, dropped at open. */
  droppedTokenRows = 0;

  /** SQLite's own check of the file, and every row readable as the queue wrote it. */
  private verify(): void {
    const result = this.db.pragma('quick_check', { simple: true });
    if (result !== 'ok') throw new QueueCorruptError(`quick_check: ${String(result)}`);
    this.all();
  }

  /**
   * Moves the corrupt file aside, salvages its readable rows into a fresh file and tells
   * onRecovered. Only for a queue that opened its file from a path.
   */
  private recover(cause: unknown): void {
    const path = this.path;
    if (!path) throw cause;
    try {
      this.db?.close();
    } catch {
      // a corrupt file may refuse even to close cleanly; the handle is gone either way
    }
    const rescue = quarantineAndSalvage(path, new Date(this.now()), (cause as Error).message, isValidRow);
    this.db = openDatabase(path);
    this.setUp();
    const insert = this.db.prepare(
      `INSERT INTO islet_writes_v1 (seq, key, kind, grp, version, resource, namespace, name, subresource,
         identity, base_rv, ops, object, writes, revision, created_at, updated_at)
       VALUES (@seq, @key, @kind, @grp, @version, @resource, @namespace, @name, @subresource,
         @identity, @base_rv, @ops, @object, @writes, @revision, @created_at, @updated_at)`,
    );
    this.db.transaction(() => {
      for (const row of rescue.rows) insert.run(row);
    })();
    const { rows, ...rest } = rescue;
    this.onRecovered?.({ ...rest, salvaged: rows.length });
  }

  /** Runs a read or write; on corruption recovers the file once and runs it again on the new one. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isCorruption(err) || !this.path) throw err;
      this.recover(err);
      return fn();
    }
  }

  private prepare() {
    return {
      byKey: this.db.prepare<[string], Row>('SELECT * FROM islet_writes_v1 WHERE key = ?'),
      byObject: this.db.prepare<[string, string, string, string], Row>(
        'SELECT * FROM islet_writes_v1 WHERE grp = ? AND resource = ? AND namespace = ? AND name = ? ORDER BY seq',
      ),
      all: this.db.prepare<[], Row>('SELECT * FROM islet_writes_v1 ORDER BY seq'),
      count: this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM islet_writes_v1'),
      insert: this.db.prepare(
        `INSERT INTO islet_writes_v1 (key, kind, grp, version, resource, namespace, name, subresource, identity,
           base_rv, ops, object, writes, revision, created_at, updated_at)
         VALUES (@key, @kind, @grp, @version, @resource, @namespace, @name, @subresource, @identity,
           @base_rv, @ops, @object, @writes, 1, @now, @now)`,
      ),
      update: this.db.prepare(
        `UPDATE islet_writes_v1 SET base_rv = @base_rv, ops = @ops, object = @object, writes = @writes,
           identity = @identity, revision = revision + 1, updated_at = @now WHERE seq = @seq`,
      ),
      remove: this.db.prepare<[number, number]>('DELETE FROM islet_writes_v1 WHERE seq = ? AND revision = ?'),
    };
  }

  size(): number {
    return this.guard(() => this.stmt.count.get()!.n);
  }

  /** All rows in replay order. */
  all(): QueuedWrite[] {
    return this.guard(() => this.stmt.all.all().map(fromRow));
  }

  get(key: string): QueuedWrite | undefined {
    return this.guard(() => this.read(key));
  }

  private read(key: string): QueuedWrite | undefined {
    const row = this.stmt.byKey.get(key);
    return row && fromRow(row);
  }

  /** The queued create of a named object (an event created offline), if any. */
  findCreate(gvr: Gvr, namespace: string, name: string): QueuedWrite | undefined {
    return this.guard(() => {
      const row = this.stmt.byObject
        .all(gvr.group, gvr.resource, namespace, name)
        .find((r) => r.kind === 'create');
      return row && fromRow(row);
    });
  }

  /**
   * Queues a write to an existing object, coalesced with what is queued for it: an update
   * replaces the sequence (only the newest status matters), a patch is appended. `result` is
   * the object after all of them, computed on the cached object at upstream version `baseRv`.
   */
  enqueueOps(target: QueueTarget, baseRv: string, op: WriteOp, result: KubeObject): QueuedWrite {
    const key = objectKey(target);
    return this.write(() => {
      const existing = this.read(key);
      if (!existing) {
        this.insert(key, 'ops', target, baseRv, [op], result);
      } else {
        let ops = op.type === 'update' ? [op] : [...existing.ops, op];
        if (ops.length > this.maxOps) ops = [{ type: 'update', body: result as never }];
        this.update(existing, baseRv, ops, result);
      }
      return this.read(key)!;
    });
  }

  /**
   * Queues an event create, or folds it into the queued event with the same involved object,
   * reason and message (count++ and the newest timestamp). `prepared` has its final name.
   */
  enqueueEvent(target: QueueTarget, prepared: KubeObject): { entry: QueuedWrite; folded: boolean } {
    const key = eventDedupKey(target.gvr.group, target.namespace, prepared);
    return this.write(() => {
      const existing = this.read(key);
      if (!existing) {
        this.insert(key, 'create', { ...target, name: prepared.metadata.name }, '', [], prepared);
        return { entry: this.read(key)!, folded: false };
      }
      const folded = foldEvent(target.gvr.group, existing.object, prepared, new Date(this.now()));
      this.update(existing, '', [], folded);
      return { entry: this.read(key)!, folded: true };
    });
  }

  /** Replaces the object a queued create will create (a patch of an event created offline). */
  replaceCreate(entry: QueuedWrite, object: KubeObject): QueuedWrite {
    return this.write(() => {
      this.update(entry, '', [], object);
      return this.read(entry.key)!;
    });
  }

  /** Removes a row once it reached upstream; false if it changed meanwhile (it stays queued). */
  remove(entry: Pick<QueuedWrite, 'seq' | 'revision'>): boolean {
    return this.guard(() => this.stmt.remove.run(entry.seq, entry.revision).changes === 1);
  }

  close(): void {
    if (this.path && this.db.open) this.db.close();
  }

  /** One IMMEDIATE transaction, opened on whatever file the queue has after a recovery. */
  private write<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  private update(existing: QueuedWrite, baseRv: string, ops: WriteOp[], object: KubeObject): void {
    this.stmt.update.run({
      seq: existing.seq,
      base_rv: baseRv,
      ops: JSON.stringify(ops),
      object: JSON.stringify(object),
      writes: existing.writes + 1,
      identity: NODE_IDENTITY_JSON,
      now: this.now(),
    });
  }

  private insert(
    key: string,
    kind: QueuedKind,
    target: QueueTarget,
    baseRv: string,
    ops: WriteOp[],
    object: KubeObject,
  ): void {
    if (this.stmt.count.get()!.n >= this.maxEntries) {
      throw new QueueFullError(`the offline write queue is full (${this.maxEntries} objects and events)`);
    }
    this.stmt.insert.run({
      key,
      kind,
      grp: target.gvr.group,
      version: target.gvr.version,
      resource: target.gvr.resource,
      namespace: target.namespace,
      name: target.name,
      subresource: target.subresource,
      identity: NODE_IDENTITY_JSON,
      base_rv: baseRv,
      ops: JSON.stringify(ops),
      object: JSON.stringify(object),
      writes: 1,
      now: this.now(),
    });
  }
}

export const NODE_IDENTITY: NodeIdentity = { kind: 'node', id: 'node' };

function fromRow(r: Row): QueuedWrite {
  try {
    return {
      seq: r.seq,
      key: r.key,
      kind: r.kind,
      gvr: { group: r.grp, version: r.version, resource: r.resource },
      namespace: r.namespace,
      name: r.name,
      subresource: r.subresource,
      identity: NODE_IDENTITY,
      baseRv: r.base_rv,
      ops: JSON.parse(r.ops) as WriteOp[],
      object: JSON.parse(r.object) as KubeObject,
      writes: r.writes,
      revision: r.revision,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  } catch (err) {
    throw new QueueCorruptError(`queued write ${r.seq} (${r.key}) is unreadable: ${(err as Error).message}`);
  }
}

/** A salvaged row the queue can replay: the node's identity, its JSON intact. */
function isValidRow(r: Row): boolean {
  if (r.identity !== NODE_IDENTITY_JSON || (r.kind !== 'ops' && r.kind !== 'create')) return false;
  try {
    const ops = JSON.parse(r.ops) as unknown;
    const object = JSON.parse(r.object) as { metadata?: unknown } | null;
    return Array.isArray(ops) && typeof object === 'object' && object !== null && !!object.metadata;
  } catch {
    return false;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`WriteQueue: ${name} must be a positive integer, got ${n}`);
  return n;
}
