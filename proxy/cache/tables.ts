/**
 * The cache file's tables, once per schema (`main` on disk, `mem` for resources kept in memory
 * only), and the statements on them, all prepared once per open. The layout's version is in the
 * table names (`objects_v1`, ...) and in the file's user_version (cache-file.ts).
 */

import type { Statement } from 'better-sqlite3';
import type { Database } from '../../lib/sqlite.js';
import type { Gvr } from '../types.js';

/** The row shape used to filter by scope without parsing bodies. */
export interface IndexRow {
  ns: string;
  name: string;
  rv: string;
  labels: string;
  fields: string;
}

export interface BodyRow extends IndexRow {
  body: Buffer;
}

export interface ViewRow {
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

/** Creates the tables of one schema where they are missing. */
export function ddl(s: string): string {
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

/** The gvr columns of every table, in statements. */
export const G = 'grp = ? AND ver = ? AND res = ?';

/** The prepared statements of one schema (main on disk, mem for in-memory-only resources). */
export class Tables {
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
  readonly viewGet: Statement<unknown[], ViewRow>;
  readonly viewCovered: Statement;
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
    this.viewGet = db.prepare(
      `SELECT * FROM ${t('views')} WHERE identity = ? AND ${G} AND ns = ? AND lsel = ? AND fsel = ?`,
    );
    this.viewCovered = db.prepare(
      `UPDATE ${t('views')} SET list_rv = ?, updated_at = ? WHERE identity = ? AND ${G} AND ns = ? AND lsel = ? AND fsel = ?`,
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

/** The LRU's key of an object: per schema, so the in-memory copy of a secret never aliases a disk one. */
export function lruKey(t: Tables, gvr: Gvr, ns: string, name: string): string {
  return `${t.schema}\u0000${gvr.group}\u0000${gvr.version}\u0000${gvr.resource}\u0000${ns}\u0000${name}`;
}
