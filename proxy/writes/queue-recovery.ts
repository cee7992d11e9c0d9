import { existsSync, renameSync, rmSync } from 'node:fs';
import { type SqlValue, salvageSqliteFile } from '../../lib/sqlite-salvage.js';

/**
 * What to do with a writes.db that SQLite calls corrupt (or whose rows no longer parse): keep the
 * bad file for a person to look at, read every queued write still decodable out of it, and let
 * the queue start over with those. A queued write was answered to kubelet as accepted, so none
 * is dropped without being counted and logged.
 */
export interface QueueRecovery {
  /** Where the bad file now is (its -wal, if any, beside it with the same suffix). */
  movedTo: string;
  /** Rows read back, in their original order, ready to insert as they were. */
  rows: QueueRow[];
  /** Queued writes known to have been in the file that could not be read back. */
  lost: number;
  /** Why the file was judged corrupt. */
  reason: string;
}

/** One row of islet_writes_v1, column for column. */
export interface QueueRow {
  seq: number;
  key: string;
  kind: 'ops' | 'create';
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

const TEXT_COLUMNS = [
  'key',
  'kind',
  'grp',
  'version',
  'resource',
  'namespace',
  'name',
  'subresource',
  'identity',
  'base_rv',
  'ops',
  'object',
] as const;
const INT_COLUMNS = ['writes', 'revision', 'created_at', 'updated_at'] as const;
const KEY_PATTERN = /^(object|event):/;

export function isCorruption(err: unknown): boolean {
  if (err instanceof QueueCorruptError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** A row SQLite reads fine but whose content is not what the queue wrote. */
export class QueueCorruptError extends Error {
  override name = 'QueueCorruptError';
}

/**
 * Moves `path` (and its -wal/-shm) aside as `<path>.corrupt-<timestamp>` and salvages its rows.
 * The caller has closed its handle. `isValid` says whether a decoded row is one the queue can use.
 */
export function quarantineAndSalvage(
  path: string,
  now: Date,
  reason: string,
  isValid: (row: QueueRow) => boolean,
): QueueRecovery {
  const movedTo = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, movedTo);
  if (existsSync(`${path}-wal`)) renameSync(`${path}-wal`, `${movedTo}-wal`);
  // the shared-memory index only describes the -wal; a stale one must not meet the new file
  rmSync(`${path}-shm`, { force: true });
  const file = salvageSqliteFile(movedTo);
  const byKey = new Map<string, QueueRow>();
  let invalid = 0;
  for (const rec of file.tableRecords) {
    const row = toRow(rec.rowid, rec.values);
    if (!row) continue; // another table's record (sqlite_master, sqlite_sequence)
    if (!isValid(row)) {
      invalid++;
      continue;
    }
    // a row can survive twice (an older copy of its page in the -wal); the newest revision wins
    const had = byKey.get(row.key);
    if (!had || row.revision > had.revision || (row.revision === had.revision && row.seq > had.seq)) {
      byKey.set(row.key, row);
    }
  }
  const rows = [...byKey.values()].sort((a, b) => a.seq - b.seq);
  // the UNIQUE(key) index names every row the table held: the ones not read back are lost
  const indexed = new Set<string>();
  for (const rec of file.indexRecords) {
    if (rec.length === 2 && typeof rec[0] === 'string' && KEY_PATTERN.test(rec[0])) indexed.add(rec[0]);
  }
  const unreadIndexed = [...indexed].filter((k) => !byKey.has(k)).length;
  // (when the index pages are gone too, the undecodable rows seen are the least that was lost)
  const lost = Math.max(unreadIndexed, invalid + file.damagedCells);
  return { movedTo, rows, lost, reason };
}

function toRow(rowid: number, v: SqlValue[]): QueueRow | undefined {
  if (v.length !== 17 || v[0] !== null) return undefined;
  const text = v.slice(1, 13);
  const ints = v.slice(13);
  if (!text.every((x) => typeof x === 'string') || !ints.every((x) => typeof x === 'number')) {
    return undefined;
  }
  if (!KEY_PATTERN.test(text[0] as string)) return undefined;
  const row = { seq: rowid } as Record<string, unknown>;
  TEXT_COLUMNS.forEach((c, i) => {
    row[c] = text[i];
  });
  INT_COLUMNS.forEach((c, i) => {
    row[c] = ints[i];
  });
  return row as unknown as QueueRow;
}
