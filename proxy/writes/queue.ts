import { type Database, openDatabase } from '../../lib/sqlite.js';
import type { Gvr, Identity, KubeObject } from '../types.js';
import type { WriteOp } from './apply-write.js';
import { eventDedupKey, foldEvent } from './events.js';

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

export interface QueuedWrite extends QueueTarget {
  seq: number;
  key: string;
  kind: QueuedKind;
  identity: Identity;
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
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

interface Row {
  seq: number;
  key: string;
  kind: QueuedKind;
  grp: string;
  version: string;
  resource: string;
  namespace: string;
  name: string;
  subresource: string;
  identity: string;
  base_rv: string;
  ops: string;
  object: string;
  writes: number;
  revision: number;
  created_at: number;
  updated_at: number;
}

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
  readonly db: Database;
  private readonly ownsDb: boolean;
  private readonly maxEntries: number;
  private readonly maxOps: number;
  private readonly now: () => number;
  private readonly stmt;

  constructor(db: string | Database, opts: WriteQueueOptions = {}) {
    this.ownsDb = typeof db === 'string';
    this.db = typeof db === 'string' ? openDatabase(db) : db;
    this.maxEntries = positive(opts.maxEntries ?? 10_000, 'maxEntries');
    this.maxOps = positive(opts.maxOpsPerEntry ?? 64, 'maxOpsPerEntry');
    this.now = opts.now ?? Date.now;
    this.db.exec(SCHEMA);
    this.stmt = {
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
    return this.stmt.count.get()!.n;
  }

  /** All rows in replay order. */
  all(): QueuedWrite[] {
    return this.stmt.all.all().map(fromRow);
  }

  get(key: string): QueuedWrite | undefined {
    const row = this.stmt.byKey.get(key);
    return row && fromRow(row);
  }

  /** The queued create of a named object (an event created offline), if any. */
  findCreate(gvr: Gvr, namespace: string, name: string): QueuedWrite | undefined {
    const row = this.stmt.byObject
      .all(gvr.group, gvr.resource, namespace, name)
      .find((r) => r.kind === 'create');
    return row && fromRow(row);
  }

  /**
   * Queues a write to an existing object, coalesced with what is queued for it: an update
   * replaces the sequence (only the newest status matters), a patch is appended. `result` is
   * the object after all of them, computed on the cached object at upstream version `baseRv`.
   */
  enqueueOps(
    target: QueueTarget,
    identity: Identity,
    baseRv: string,
    op: WriteOp,
    result: KubeObject,
  ): QueuedWrite {
    const key = objectKey(target);
    return this.db
      .transaction(() => {
        const existing = this.get(key);
        if (!existing) {
          this.insert(key, 'ops', target, identity, baseRv, [op], result, 1);
        } else {
          let ops = op.type === 'update' ? [op] : [...existing.ops, op];
          if (ops.length > this.maxOps) ops = [{ type: 'update', body: result as never }];
          this.stmt.update.run({
            seq: existing.seq,
            base_rv: baseRv,
            ops: JSON.stringify(ops),
            object: JSON.stringify(result),
            writes: existing.writes + 1,
            identity: JSON.stringify(identity),
            now: this.now(),
          });
        }
        return this.get(key)!;
      })
      .immediate();
  }

  /**
   * Queues an event create, or folds it into the queued event with the same involved object,
   * reason and message (count++ and the newest timestamp). `prepared` has its final name.
   */
  enqueueEvent(
    target: QueueTarget,
    identity: Identity,
    prepared: KubeObject,
  ): { entry: QueuedWrite; folded: boolean } {
    const key = eventDedupKey(target.gvr.group, target.namespace, prepared);
    return this.db
      .transaction(() => {
        const existing = this.get(key);
        if (!existing) {
          this.insert(
            key,
            'create',
            { ...target, name: prepared.metadata.name },
            identity,
            '',
            [],
            prepared,
            1,
          );
          return { entry: this.get(key)!, folded: false };
        }
        const folded = foldEvent(target.gvr.group, existing.object, prepared, new Date(this.now()));
        this.stmt.update.run({
          seq: existing.seq,
          base_rv: '',
          ops: '[]',
          object: JSON.stringify(folded),
          writes: existing.writes + 1,
          identity: existing.identity ? JSON.stringify(existing.identity) : JSON.stringify(identity),
          now: this.now(),
        });
        return { entry: this.get(key)!, folded: true };
      })
      .immediate();
  }

  /** Replaces the object a queued create will create (a patch of an event created offline). */
  replaceCreate(entry: QueuedWrite, object: KubeObject): QueuedWrite {
    return this.db
      .transaction(() => {
        this.stmt.update.run({
          seq: entry.seq,
          base_rv: '',
          ops: '[]',
          object: JSON.stringify(object),
          writes: entry.writes + 1,
          identity: JSON.stringify(entry.identity),
          now: this.now(),
        });
        return this.get(entry.key)!;
      })
      .immediate();
  }

  /** Removes a row once it reached upstream; false if it changed meanwhile (it stays queued). */
  remove(entry: Pick<QueuedWrite, 'seq' | 'revision'>): boolean {
    return this.stmt.remove.run(entry.seq, entry.revision).changes === 1;
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }

  private insert(
    key: string,
    kind: QueuedKind,
    target: QueueTarget,
    identity: Identity,
    baseRv: string,
    ops: WriteOp[],
    object: KubeObject,
    writes: number,
  ): void {
    if (this.size() >= this.maxEntries) {
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
      identity: JSON.stringify(identity),
      base_rv: baseRv,
      ops: JSON.stringify(ops),
      object: JSON.stringify(object),
      writes,
      now: this.now(),
    });
  }
}

function fromRow(r: Row): QueuedWrite {
  return {
    seq: r.seq,
    key: r.key,
    kind: r.kind,
    gvr: { group: r.grp, version: r.version, resource: r.resource },
    namespace: r.namespace,
    name: r.name,
    subresource: r.subresource,
    identity: JSON.parse(r.identity) as Identity,
    baseRv: r.base_rv,
    ops: JSON.parse(r.ops) as WriteOp[],
    object: JSON.parse(r.object) as KubeObject,
    writes: r.writes,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`WriteQueue: ${name} must be a positive integer, got ${n}`);
  return n;
}
