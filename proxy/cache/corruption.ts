/**
 * What the cache does with a damaged SQLite file: the cache is a cache, so a corrupt one is moved
 * aside (kept for diagnosis) and the proxy carries on with an empty one that online answers refill.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Set-aside copies kept per cache file: a failing disk must not fill itself up with them. */
export const KEEP_CORRUPT_COPIES = 3;

/** The SQLite error (SQLITE_CORRUPT*, SQLITE_NOTADB) that says the file itself is damaged. */
export function isCacheCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

/** A damaged cache file found by the start-up integrity check (no SQLite error code of its own). */
export class CacheCorruptError extends Error {
  override name = 'CacheCorruptError';
  readonly code = 'SQLITE_CORRUPT';
}

/**
 * Renames `path` and its -wal/-shm to `path.corrupt-<timestamp>` (the WAL keeps its suffix, so
 * sqlite3 opens the copy as it was), drops all but the newest KEEP_CORRUPT_COPIES, and returns
 * the new name ('' when there was no file to move).
 */
export function setAsideCorrupt(path: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  let target = `${path}.corrupt-${stamp}`;
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${stamp}-${n}`;
  if (!existsSync(path)) return '';
  renameSync(path, target);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  pruneCorruptCopies(path);
  return target;
}

function pruneCorruptCopies(path: string): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.corrupt-`;
  // ISO timestamps sort by time as text.
  const copies = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && !f.endsWith('-wal') && !f.endsWith('-shm'))
    .sort();
  for (const old of copies.slice(0, Math.max(0, copies.length - KEEP_CORRUPT_COPIES))) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, old + suffix), { force: true });
  }
}
