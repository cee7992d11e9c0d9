/**
 * One rule for the layout version of islet's SQLite files (the plugin's ipam.db, the proxy's
 * cache.db and writes.db): `PRAGMA user_version` holds the version the file was last brought to.
 * At open:
 *
 * - the same version: nothing else runs (one pragma read: ipam.db is opened on every CNI call);
 * - a newer one: refused, with a message naming the file and both versions. An older binary must
 *   neither misread a newer layout nor "repair" it back to its own;
 * - an older one (0 is also a new, empty file, and a file from before this rule): the file's own
 *   migration brings it to the current layout, then user_version is set, in that order, so an
 *   interrupted migration runs again at the next open.
 */
import type { Database } from './sqlite.js';

export interface SchemaRule {
  /** The layout this binary reads and writes. */
  version: number;
  /** Brings a file at version `from` (older than `version`) to `version`. */
  migrate: (db: Database, from: number) => void;
  /**
   * 'immediate' (default): the migration and the version in one BEGIN IMMEDIATE transaction, the
   * version read again under the lock (several processes open ipam.db at once). 'none': for a
   * migration SQLite will not run in a transaction (VACUUM) on a file one process owns.
   */
  transaction?: 'immediate' | 'none';
  /** The error a newer file is refused with (the CNI plugin answers with CNI error codes). */
  error?: (message: string) => Error;
}

/** Checks and, where needed, migrates an open database by the rule; returns the version it found. */
export function checkSchemaVersion(db: Database, rule: SchemaRule): number {
  const found = userVersion(db);
  if (found === rule.version) return found;
  refuseNewer(db, rule, found);
  if (rule.transaction === 'none') {
    rule.migrate(db, found);
    db.pragma(`user_version = ${rule.version}`);
    return found;
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    // Read again under the lock: a parallel first open may have migrated meanwhile.
    const locked = userVersion(db);
    refuseNewer(db, rule, locked);
    if (locked !== rule.version) {
      rule.migrate(db, locked);
      db.pragma(`user_version = ${rule.version}`);
    }
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
  return found;
}

function userVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function refuseNewer(db: Database, rule: SchemaRule, found: number): void {
  if (found <= rule.version) return;
  const message = `${db.name}: schema version ${found} is newer than this islet understands (${rule.version})`;
  throw rule.error ? rule.error(message) : new Error(message);
}
