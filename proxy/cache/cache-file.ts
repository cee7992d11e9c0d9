/**
 * The cache's SQLite file: opening it (lib/sqlite.ts: WAL, synchronous=FULL, 0600), checking it,
 * running each store operation in one transaction, and replacing a damaged file with an empty one
 * (the cache is only a cache; corruption.ts moves the damaged one aside).
 *
 * Secrets can be kept off disk: they then live in an attached in-memory database (`mem`) with the
 * same tables, so every code path is the same.
 */
import { rmSync } from 'node:fs';
import { checkSchemaVersion, type SchemaRule } from '../../lib/schema-version.js';
import { type Database, openDatabase } from '../../lib/sqlite.js';
import { CacheCorruptError, isCacheCorruption, setAsideCorrupt } from './corruption.js';
import { ensureRawTable, RawAnswers } from './raw.js';
import { ddl, Tables } from './tables.js';

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

/**
 * cache.db's layout (lib/schema-version.ts). Version 1 is the tables of tables.ts and raw.ts; a
 * file of version 0 is new, or from before the rule: those named their layout in a `meta` table
 * ("islet-cache-v1", the same tables) and may lack raw_v1's etag column.
 */
export const CACHE_SCHEMA: SchemaRule = {
  version: 1,
  migrate: (db) => {
    const meta = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    const named = meta
      ? (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined)
      : undefined;
    if (named && named.value !== 'islet-cache-v1') {
      throw new Error(
        `CacheStore: ${db.name} holds schema "${named.value}", this version reads "islet-cache-v1"`,
      );
    }
    db.exec(ddl('main'));
    ensureRawTable(db);
    db.exec('DROP TABLE IF EXISTS meta');
  },
};

/**
 * SQLite page cache of the cache file, in KiB. better-sqlite3 builds SQLite with 16 MB per
 * connection, which a 10,000-pod cache fills and never gives back; the kernel's page cache keeps
 * the file warm anyway, so a small private cache costs a read() per cold page and nothing else.
 */
const CACHE_PAGES_KIB = 2048;

export class CacheFile {
  // Replaced together when a damaged file is set aside (replaceDamaged()).
  private db!: Database;
  /** Tables on disk, and in memory (resources kept off disk). */
  disk!: Tables;
  mem!: Tables;
  raw!: RawAnswers;
  /** better-sqlite3 builds a wrapper per transaction() call: build it once (nested calls are savepoints). */
  private runTx!: (fn: () => void) => void;
  private closed = false;
  /** Nesting of guarded calls; a damaged file is replaced only when the outermost one ends. */
  private depth = 0;
  private corruption: Error | undefined;
  /**
   * Bumped each time the file is replaced: what a caller stored before (e.g. the first pages of a
   * chunked list) is gone, so it must not complete anything with it.
   */
  generation = 0;

  constructor(
    private readonly path: string,
    /** Told after a damaged file was replaced; `onReset` first drops what was cached from it. */
    private readonly onCorrupt: ((event: CorruptionEvent) => void) | undefined,
    private readonly onReset: () => void,
  ) {
    const started = performance.now();
    try {
      this.open(true);
    } catch (err) {
      if (!isCacheCorruption(err)) throw err;
      const checkMs = Math.round(performance.now() - started);
      this.replaceDamaged(err as Error, 'open', checkMs);
    }
  }

  /** Inside a transaction what is read may yet be rolled back. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /**
   * Runs one store operation. An SQLite error saying the file is damaged is passed on to the
   * caller (its answer is lost), and once the outermost operation is over the file is replaced,
   * so the next one works instead of failing the same way forever.
   */
  guard<T>(fn: () => T): T {
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

  /** One guarded transaction; nested calls become savepoints, so a failing inner change rolls back alone. */
  tx(fn: () => void): void {
    this.guard(() => this.runTx(fn));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
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
      checkSchemaVersion(this.db, CACHE_SCHEMA);
      this.db.exec("ATTACH DATABASE ':memory:' AS mem");
      this.db.exec(ddl('mem'));
      this.disk = new Tables(this.db, 'main');
      this.mem = new Tables(this.db, 'mem');
      this.raw = new RawAnswers(this.db);
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
    this.onReset();
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
}
