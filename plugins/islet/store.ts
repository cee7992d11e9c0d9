/**
 * The snapshot store: one SQLite file (WAL, synchronous=FULL via lib/sqlite.ts), opened per CNI
 * call. All statements are prepared once per open. Transactions are explicit `BEGIN IMMEDIATE`
 * so that a verb can hold the write lock across its delegate call (see design.md, CNI plugin).
 */
import { traced } from '../../lib/cni-trace.js';
import { checkSchemaVersion, type SchemaRule } from '../../lib/schema-version.js';
import type { Database } from '../../lib/sqlite.js';
import { openDatabase } from '../../lib/sqlite.js';
import { CniError, ErrorCode } from '../cni/errors.js';

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  network TEXT NOT NULL,
  pod_namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  ifname TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  ips TEXT NOT NULL,
  result TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('live', 'held', 'stale')),
  stale_reason TEXT,
  container_id TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  held_at INTEGER,
  PRIMARY KEY (network, pod_namespace, pod_name, ifname)
);
CREATE TABLE IF NOT EXISTS stale_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  network TEXT NOT NULL,
  pod_namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  ifname TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  ips TEXT NOT NULL,
  reason TEXT NOT NULL,
  container_id TEXT NOT NULL,
  staled_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
  network TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  pod_namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  netns TEXT NOT NULL,
  cni_args TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'replayed', 'held', 'deleting')),
  ips TEXT NOT NULL,
  result TEXT,
  delegate_conf TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  proc_start TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (network, container_id, ifname)
);
CREATE INDEX IF NOT EXISTS attachments_by_state ON attachments (network, state);
CREATE TABLE IF NOT EXISTS chain_results (
  network TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  pod_namespace TEXT NOT NULL,
  pod_name TEXT NOT NULL,
  pod_uid TEXT NOT NULL,
  cni_version TEXT NOT NULL,
  result TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (network, container_id, ifname)
);
`;

export type AttachmentState = 'pending' | 'active' | 'replayed' | 'held' | 'deleting';
export type SnapshotState = 'live' | 'held' | 'stale';

export interface Tuple {
  network: string;
  container_id: string;
  ifname: string;
}

export interface PodKey {
  network: string;
  pod_namespace: string;
  pod_name: string;
  ifname: string;
}

export interface AttachmentRow extends Tuple {
  pod_namespace: string;
  pod_name: string;
  pod_uid: string;
  netns: string;
  cni_args: string;
  state: AttachmentState;
  ips: string;
  result: string | null;
  delegate_conf: string;
  boot_id: string;
  pid: number;
  proc_start: string;
  created_at: number;
  updated_at: number;
}

export interface SnapshotRow extends PodKey {
  pod_uid: string;
  ips: string;
  result: string;
  state: SnapshotState;
  stale_reason: string | null;
  container_id: string;
  boot_id: string;
  created_at: number;
  updated_at: number;
  held_at: number | null;
}

export interface ChainRow extends Tuple {
  pod_namespace: string;
  pod_name: string;
  pod_uid: string;
  cni_version: string;
  result: string;
  boot_id: string;
  created_at: number;
}

/** SQLite failures as the CNI codes a runtime understands: busy → 11, everything else → 5. */
export function storeError(err: unknown, path: string): CniError {
  if (err instanceof CniError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e.code === 'string' ? e.code : '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CniError(ErrorCode.TryAgainLater, `islet database ${path} is busy: ${e.message}`);
  }
  return new CniError(ErrorCode.IoFailure, `islet database ${path}: ${e.message ?? String(err)}`, code);
}

const ATTACHMENT_COLUMNS =
  'network, container_id, ifname, pod_namespace, pod_name, pod_uid, netns, cni_args, state, ips, result, delegate_conf, boot_id, pid, proc_start, created_at, updated_at';
const INSERT_ATTACHMENT = `INSERT INTO attachments (${ATTACHMENT_COLUMNS}) VALUES (@network, @container_id, @ifname, @pod_namespace, @pod_name, @pod_uid, @netns, @cni_args, @state, @ips, @result, @delegate_conf, @boot_id, @pid, @proc_start, @created_at, @updated_at)`;

interface LazyStatement<P extends unknown[], R> {
  get(...params: P): R | undefined;
  all(...params: P): R[];
  run(...params: P): unknown;
}

/** Prepared on first use: a CNI call touches a few of these, and preparing costs start-up time. */
function lazy<P extends unknown[] = unknown[], R = unknown>(db: Database, sql: string): LazyStatement<P, R> {
  type Raw = {
    get(...a: unknown[]): unknown;
    all(...a: unknown[]): unknown[];
    run(...a: unknown[]): unknown;
  };
  let stmt: Raw | undefined;
  const s = (): Raw => {
    stmt ??= traced('prepare', () => db.prepare(sql)) as unknown as Raw;
    return stmt;
  };
  return {
    get: (...p) => s().get(...p) as R | undefined,
    all: (...p) => s().all(...p) as R[],
    run: (...p) => s().run(...p),
  };
}

/** WAL pages after which a commit checkpoints (SQLite's default is 1000); see Store.open. */
const ONE_SHOT_AUTOCHECKPOINT_PAGES = 200;

/** Connections a one-shot process leaves to its exit: referenced so no GC closes them first. */
const leftForExit: Database[] = [];

export interface StoreOptions {
  /**
   * The process exits right after (with process.exit, which skips better-sqlite3's close-at-exit
   * hook): close() leaves the connection to the exit, so SQLite neither checkpoints the WAL nor
   * deletes it and the -shm file. Every commit is already durable in the WAL (synchronous=FULL);
   * the next opener rebuilds the WAL index from it, as after a killed process. Saves 3 of a CNI
   * call's 5 fsyncs and two unlinks (design.md, CNI performance).
   */
  oneShot?: boolean;
}

export class Store {
  private readonly db: Database;
  private inTx = false;
  private oneShot = false;
  private readonly stmts;

  private constructor(
    db: Database,
    readonly path: string,
  ) {
    this.db = db;
    this.stmts = {
      attachment: lazy<[string, string, string], AttachmentRow>(
        db,
        'SELECT * FROM attachments WHERE network = ? AND container_id = ? AND ifname = ?',
      ),
      attachmentsIn: lazy<[string, string], AttachmentRow>(
        db,
        'SELECT * FROM attachments WHERE network = ? AND state = ? ORDER BY created_at',
      ),
      allAttachments: lazy<[string], AttachmentRow>(
        db,
        'SELECT * FROM attachments WHERE network = ? ORDER BY created_at',
      ),
      maintenanceDue: lazy<[Record<string, unknown>], { due: number }>(
        db,
        `SELECT EXISTS (SELECT 1 FROM attachments WHERE network = @network AND (
           (state IN ('pending', 'deleting', 'replayed') AND NOT (container_id IS @container_id AND ifname IS @ifname))
           OR (state = 'held' AND updated_at < @before)
           OR (state = 'active' AND boot_id != @boot_id AND @old_boots)))
         OR EXISTS (SELECT 1 FROM snapshots WHERE network = @network AND (
           (state = 'held' AND held_at < @before) OR (state = 'stale' AND updated_at < @before))) AS due`,
      ),
      unfinished: lazy<[string], AttachmentRow>(
        db,
        "SELECT * FROM attachments WHERE network = ? AND state IN ('pending', 'deleting', 'replayed') ORDER BY created_at",
      ),
      reapable: lazy<[string, number, string, number], AttachmentRow>(
        db,
        "SELECT * FROM attachments WHERE network = ? AND ((state = 'held' AND updated_at < ?) OR (state = 'active' AND boot_id != ? AND ?)) ORDER BY created_at",
      ),
      addAttachment: lazy<[AttachmentRow]>(
        db,
        `${INSERT_ATTACHMENT} ON CONFLICT (network, container_id, ifname) DO NOTHING`,
      ),
      insertAttachment: lazy(
        db,
        `${INSERT_ATTACHMENT}
         ON CONFLICT (network, container_id, ifname) DO UPDATE SET pod_namespace = excluded.pod_namespace, pod_name = excluded.pod_name, pod_uid = excluded.pod_uid, netns = excluded.netns, cni_args = excluded.cni_args, state = excluded.state, ips = excluded.ips, result = excluded.result, delegate_conf = excluded.delegate_conf, boot_id = excluded.boot_id, pid = excluded.pid, proc_start = excluded.proc_start, updated_at = excluded.updated_at`,
      ),
      setAttachmentState: lazy<[string, string | null, string | null, number, string, string, string]>(
        db,
        'UPDATE attachments SET state = ?, ips = COALESCE(?, ips), result = COALESCE(?, result), updated_at = ? WHERE network = ? AND container_id = ? AND ifname = ?',
      ),
      deleteAttachment: lazy<[string, string, string]>(
        db,
        'DELETE FROM attachments WHERE network = ? AND container_id = ? AND ifname = ?',
      ),
      snapshot: lazy<[string, string, string, string], SnapshotRow>(
        db,
        'SELECT * FROM snapshots WHERE network = ? AND pod_namespace = ? AND pod_name = ? AND ifname = ?',
      ),
      upsertSnapshot: lazy(
        db,
        `INSERT INTO snapshots (network, pod_namespace, pod_name, ifname, pod_uid, ips, result, state, stale_reason, container_id, boot_id, created_at, updated_at, held_at)
         VALUES (@network, @pod_namespace, @pod_name, @ifname, @pod_uid, @ips, @result, 'live', @stale_reason, @container_id, @boot_id, @now, @now, NULL)
         ON CONFLICT (network, pod_namespace, pod_name, ifname) DO UPDATE SET pod_uid = excluded.pod_uid, ips = excluded.ips, result = excluded.result, state = 'live', stale_reason = excluded.stale_reason, container_id = excluded.container_id, boot_id = excluded.boot_id, updated_at = excluded.updated_at, held_at = NULL,
           created_at = CASE WHEN snapshots.ips = excluded.ips THEN snapshots.created_at ELSE excluded.created_at END`,
      ),
      holdSnapshot: lazy<[number, number, string, string, string]>(
        db,
        "UPDATE snapshots SET state = 'held', held_at = ?, updated_at = ? WHERE network = ? AND container_id = ? AND ifname = ? AND state = 'live'",
      ),
      staleSnapshot: lazy<[string, number, string, string, string, string]>(
        db,
        "UPDATE snapshots SET state = 'stale', stale_reason = ?, updated_at = ? WHERE network = ? AND pod_namespace = ? AND pod_name = ? AND ifname = ?",
      ),
      archiveStale: lazy(
        db,
        `INSERT INTO stale_snapshots (network, pod_namespace, pod_name, ifname, pod_uid, ips, reason, container_id, staled_at)
         SELECT network, pod_namespace, pod_name, ifname, pod_uid, ips, @reason, container_id, @now FROM snapshots
         WHERE network = @network AND pod_namespace = @pod_namespace AND pod_name = @pod_name AND ifname = @ifname`,
      ),
      expiredSnapshots: lazy<[string, number, number], SnapshotRow>(
        db,
        "SELECT * FROM snapshots WHERE network = ? AND ((state = 'held' AND held_at < ?) OR (state = 'stale' AND updated_at < ?))",
      ),
      deleteSnapshot: lazy<[string, string, string, string]>(
        db,
        'DELETE FROM snapshots WHERE network = ? AND pod_namespace = ? AND pod_name = ? AND ifname = ?',
      ),
      replayableCount: lazy<[string, number], { n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM snapshots WHERE network = ? AND state != 'stale' AND (held_at IS NULL OR held_at >= ?)",
      ),
      chain: lazy<[string, string, string], ChainRow>(
        db,
        'SELECT * FROM chain_results WHERE network = ? AND container_id = ? AND ifname = ?',
      ),
      chainAll: lazy<[string], ChainRow>(db, 'SELECT * FROM chain_results WHERE network = ?'),
      upsertChain: lazy(
        db,
        `INSERT INTO chain_results (network, container_id, ifname, pod_namespace, pod_name, pod_uid, cni_version, result, boot_id, created_at)
         VALUES (@network, @container_id, @ifname, @pod_namespace, @pod_name, @pod_uid, @cni_version, @result, @boot_id, @created_at)
         ON CONFLICT (network, container_id, ifname) DO UPDATE SET pod_namespace = excluded.pod_namespace, pod_name = excluded.pod_name, pod_uid = excluded.pod_uid, cni_version = excluded.cni_version, result = excluded.result, boot_id = excluded.boot_id, created_at = excluded.created_at`,
      ),
      deleteChain: lazy<[string, string, string]>(
        db,
        'DELETE FROM chain_results WHERE network = ? AND container_id = ? AND ifname = ?',
      ),
    };
  }

  /** Opens (creating and migrating) the database; failures are CNI code 5 (11 when busy). */
  static open(path: string, busyTimeoutMs: number, opts: StoreOptions = {}): Store {
    let db: Database | undefined;
    try {
      const opened = traced('db-open', () => {
        // Without close-time checkpoints the WAL grows until a commit checkpoints it, and each
        // opener reads it whole to rebuild the index: kept short, that read stays well under 1 ms.
        db = openDatabase(path, {
          busyTimeoutMs,
          ...(opts.oneShot ? { walAutocheckpointPages: ONE_SHOT_AUTOCHECKPOINT_PAGES } : {}),
        });
        checkSchemaVersion(db, SCHEMA_RULE);
        return db;
      });
      const store = new Store(opened, path);
      store.oneShot = opts.oneShot ?? false;
      return store;
    } catch (err) {
      try {
        db?.close();
      } catch {
        // already failing; the original error is the one to report
      }
      throw storeError(err, path);
    }
  }

  close(): void {
    if (this.inTx) this.rollback();
    if (this.oneShot) {
      leftForExit.push(this.db);
      return;
    }
    // The last connection's close checkpoints the WAL into the database (fsyncs) and deletes it.
    traced('db-close', () => this.db.close());
  }

  begin(): void {
    this.run(() => this.db.exec('BEGIN IMMEDIATE'), 'begin');
    this.inTx = true;
  }

  commit(): void {
    this.run(() => this.db.exec('COMMIT'), 'commit');
    this.inTx = false;
  }

  rollback(): void {
    if (!this.inTx) return;
    this.inTx = false;
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // SQLite may already have rolled back (e.g. after an I/O error); nothing more to undo.
    }
  }

  /** Runs `fn` in its own short write transaction. */
  tx<T>(fn: () => T): T {
    this.begin();
    try {
      const out = fn();
      this.commit();
      return out;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  /**
   * A short transaction whose commit skips the fsync (synchronous=NORMAL): durable against a
   * crashed process, not against power loss. For ADD's pending intent only - the snapshot commit
   * that follows is FULL and makes these frames durable with it.
   */
  txSurvivingCrash<T>(fn: () => T): T {
    this.run(() => this.db.exec('PRAGMA synchronous = NORMAL'));
    try {
      return this.tx(fn);
    } finally {
      this.run(() => this.db.exec('PRAGMA synchronous = FULL'));
    }
  }

  /** Runs SQLite work as one traced phase ('sql' unless named), its errors as CNI errors. */
  private run<T>(fn: () => T, phase = 'sql'): T {
    try {
      return traced(phase, fn);
    } catch (err) {
      throw storeError(err, this.path);
    }
  }

  attachment(t: Tuple): AttachmentRow | undefined {
    return this.run(() => this.stmts.attachment.get(t.network, t.container_id, t.ifname));
  }

  attachmentsIn(network: string, state: AttachmentState): AttachmentRow[] {
    return this.run(() => this.stmts.attachmentsIn.all(network, state));
  }

  attachments(network: string): AttachmentRow[] {
    return this.run(() => this.stmts.allAttachments.all(network));
  }

  /**
   * Whether maintenance has anything to do, in one statement (on most calls it has not): an
   * unfinished attachment other than `own`'s, or what reapableAttachments and expiredSnapshots
   * would return for the same arguments.
   */
  maintenanceDue(
    network: string,
    own: Tuple | undefined,
    before: number,
    bootId: string,
    oldBootsExpired: boolean,
  ): boolean {
    const args = {
      network,
      container_id: own?.container_id ?? null,
      ifname: own?.ifname ?? null,
      before,
      boot_id: bootId,
      old_boots: oldBootsExpired ? 1 : 0,
    };
    return this.run(() => this.stmts.maintenanceDue.get(args)?.due === 1);
  }

  /** Attachments earlier calls left work for: pending, deleting and replayed ones, oldest first. */
  unfinishedAttachments(network: string): AttachmentRow[] {
    return this.run(() => this.stmts.unfinished.all(network));
  }

  /**
   * Reservations past their time, oldest first: held ones last updated before `heldBefore`, and,
   * when `oldBootsExpired`, active ones of a boot other than `bootId`.
   */
  reapableAttachments(
    network: string,
    heldBefore: number,
    bootId: string,
    oldBootsExpired: boolean,
  ): AttachmentRow[] {
    return this.run(() => this.stmts.reapable.all(network, heldBefore, bootId, oldBootsExpired ? 1 : 0));
  }

  putAttachment(row: AttachmentRow): void {
    this.run(() => this.stmts.insertAttachment.run(row));
  }

  /** Inserts the row unless its tuple has one already; true when it did. */
  addAttachment(row: AttachmentRow): boolean {
    return this.run(() => (this.stmts.addAttachment.run(row) as { changes: number }).changes === 1);
  }

  setAttachmentState(t: Tuple, state: AttachmentState, now: number, ips?: string, result?: string): void {
    this.run(() =>
      this.stmts.setAttachmentState.run(
        state,
        ips ?? null,
        result ?? null,
        now,
        t.network,
        t.container_id,
        t.ifname,
      ),
    );
  }

  deleteAttachment(t: Tuple): void {
    this.run(() => this.stmts.deleteAttachment.run(t.network, t.container_id, t.ifname));
  }

  snapshot(k: PodKey): SnapshotRow | undefined {
    return this.run(() => this.stmts.snapshot.get(k.network, k.pod_namespace, k.pod_name, k.ifname));
  }

  putSnapshot(
    k: PodKey,
    v: {
      pod_uid: string;
      ips: string;
      result: string;
      container_id: string;
      boot_id: string;
      stale_reason: string | null;
    },
    now: number,
  ): void {
    this.run(() => this.stmts.upsertSnapshot.run({ ...k, ...v, now }));
  }

  /** The snapshot last written by this sandbox becomes held (kept for the pod's next sandbox). */
  holdSnapshotOf(t: Tuple, now: number): void {
    this.run(() => this.stmts.holdSnapshot.run(now, now, t.network, t.container_id, t.ifname));
  }

  /** Marks the snapshot stale and keeps a copy of it in stale_snapshots with the reason. */
  markStale(k: PodKey, reason: string, now: number): void {
    this.run(() => {
      this.stmts.archiveStale.run({ ...k, reason, now });
      this.stmts.staleSnapshot.run(reason, now, k.network, k.pod_namespace, k.pod_name, k.ifname);
    });
  }

  expiredSnapshots(network: string, heldBefore: number): SnapshotRow[] {
    return this.run(() => this.stmts.expiredSnapshots.all(network, heldBefore, heldBefore));
  }

  deleteSnapshot(k: PodKey): void {
    this.run(() => this.stmts.deleteSnapshot.run(k.network, k.pod_namespace, k.pod_name, k.ifname));
  }

  /** Snapshots that could still be replayed (not stale, not past the TTL when held). */
  replayableCount(network: string, heldSince: number): number {
    return this.run(() => this.stmts.replayableCount.get(network, heldSince)?.n ?? 0);
  }

  chainResult(t: Tuple): ChainRow | undefined {
    return this.run(() => this.stmts.chain.get(t.network, t.container_id, t.ifname));
  }

  chainResults(network: string): ChainRow[] {
    return this.run(() => this.stmts.chainAll.all(network));
  }

  putChainResult(row: ChainRow): void {
    this.run(() => this.stmts.upsertChain.run(row));
  }

  deleteChainResult(t: Tuple): void {
    this.run(() => this.stmts.deleteChain.run(t.network, t.container_id, t.ifname));
  }
}

/** ipam.db's layout (lib/schema-version.ts): a file older than it gets the tables it lacks. */
const SCHEMA_RULE: SchemaRule = {
  version: SCHEMA_VERSION,
  migrate: (db) => db.exec(SCHEMA),
  error: (message) => new CniError(ErrorCode.IoFailure, message),
};
