import { chmodSync, closeSync, existsSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
// Imported statically: a createRequire()'d require goes through Module._load, which a runtime's
// NODE_DEBUG=module would make chatter on the CNI plugin's stderr.
import { getRawAsset, isSea } from 'node:sea';
// A static import so esbuild bundles better-sqlite3's JavaScript: inside the single executable
// require() reaches built-in modules only, and an installed /opt/cni/bin/islet has no node_modules.
import BetterSqlite3 from 'better-sqlite3';
import { traced } from './cni-trace.js';
import { loadEmbeddedAddon } from './native-addon.js';

export type Database = BetterSqlite3.Database;

let nativeBinding: string | object | undefined;

// Set by scripts/build.mjs: the sha256 prefix of the addon packed into the single executable, which
// names its extracted copy. Knowing it at build time spares every CNI call hashing 2 MB and loading
// node:crypto (~7 ms).
declare const __ISLET_ADDON_ID__: string | undefined;

/**
 * Finds better-sqlite3's native addon. Inside the single-executable build it is a SEA asset,
 * written to a private file and dlopen'ed (lib/native-addon.ts says where and when); next to a bundled dist/islet it is a sibling
 * file; in development node_modules resolves it.
 */
function resolveNativeBinding(): string | object | undefined {
  nativeBinding ??= traced('addon', findNativeBinding);
  return nativeBinding;
}

function findNativeBinding(): string | object | undefined {
  if (isSea()) {
    // Only scripts/build.mjs makes the single executable, and it always defines the id.
    if (typeof __ISLET_ADDON_ID__ !== 'string')
      throw new Error('this single executable was built without the id of its SQLite addon');
    // Not a copy: the bytes are the executable's own mapping.
    return loadEmbeddedAddon(getRawAsset('better_sqlite3.node') as ArrayBuffer, __ISLET_ADDON_ID__);
  }
  const script = process.argv[1] ? safeRealpath(process.argv[1]) : undefined;
  if (script) {
    const sibling = join(dirname(script), 'better_sqlite3.node');
    if (existsSync(sibling)) return sibling;
  }
  return undefined;
}

function safeRealpath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

export interface OpenOptions {
  /** Milliseconds a writer waits for the lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** WAL pages after which a commit checkpoints (SQLite's default: 1000). */
  walAutocheckpointPages?: number;
}

/**
 * Opens (creating if needed, mode 0600) a SQLite database tuned for an edge box that loses
 * power: WAL, synchronous=FULL, a busy timeout so parallel processes queue instead of failing.
 */
export function openDatabase(path: string, opts: OpenOptions = {}): Database {
  // The file is there on every call but the first: then nothing else is asked of the file system.
  if (!opts.readonly && !existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
  const binding = resolveNativeBinding();
  const busyTimeoutMs = opts.busyTimeoutMs ?? 10_000;
  const db = new BetterSqlite3(path, {
    readonly: opts.readonly ?? false,
    fileMustExist: opts.readonly ?? false,
    // sqlite3_busy_timeout, what PRAGMA busy_timeout sets.
    timeout: busyTimeoutMs,
    ...(binding !== undefined ? { nativeBinding: binding as string } : {}),
  });
  try {
    // One round trip for the settings a CNI call pays on every open (exec discards their rows).
    if (!opts.readonly) {
      const checkpoint = opts.walAutocheckpointPages;
      execWaitingOutBusy(
        db,
        `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL${checkpoint === undefined ? '' : `; PRAGMA wal_autocheckpoint = ${checkpoint}`}`,
        busyTimeoutMs,
      );
    }
  } catch (err) {
    // A file that is not a database fails here (SQLITE_NOTADB): do not leak the handle.
    db.close();
    throw err;
  }
  return db;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `sql`, waiting out SQLITE_BUSY for up to `timeoutMs` as the busy timeout does elsewhere. A
 * new file's switch to WAL reads page 1, then upgrades to a write to change its header; SQLite
 * refuses that upgrade at once, without calling the busy handler (a reader waiting for a writer
 * that may wait for it would deadlock), while another connection holds the write lock. Parallel
 * first opens - 50 CNI ADDs on a fresh node, each converting and stamping the new file - then
 * failed with "database is locked" instead of queueing. Once the file is in WAL mode the pragma
 * takes no lock and this never loops.
 */
function execWaitingOutBusy(db: Database, sql: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let waitMs = 1; ; waitMs = Math.min(waitMs * 2, 50)) {
    try {
      db.exec(sql);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, waitMs);
    }
  }
}
