import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from './sqlite.js';
import { salvageSqliteFile } from './sqlite-salvage.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-salvage-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A table of rows with large text values (overflow pages) and one of small ones. */
function build(path: string) {
  const db = openDatabase(path);
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, body TEXT, n INTEGER, f REAL)');
  const insert = db.prepare('INSERT INTO t (name, body, n, f) VALUES (?, ?, ?, ?)');
  for (let i = 1; i <= 50; i++) insert.run(`row-${i}`, `${i}:`.repeat(i * 100), i * 1_000_000_007, i / 4);
  db.prepare("DELETE FROM t WHERE name = 'row-7'").run();
  return db;
}

const rowsOf = (records: { rowid: number; values: unknown[] }[]) =>
  records
    .filter((r) => r.values.length === 5 && r.values[0] === null)
    .map((r) => ({ id: r.rowid, name: r.values[1], body: r.values[2], n: r.values[3], f: r.values[4] }))
    .sort((a, b) => a.id - b.id);

describe('salvageSqliteFile', () => {
  it('reads back every live row of an intact file, overflow chains and numbers included', () => {
    const path = join(dir, 'a.db');
    const db = build(path);
    const expected = db.prepare('SELECT * FROM t ORDER BY id').all();
    db.close();
    const got = salvageSqliteFile(path);
    expect(got.pageSize).toBe(4096);
    expect(rowsOf(got.tableRecords)).toEqual(expected);
    expect(got.damagedCells).toBe(0);
  });

  it('reads committed rows from the -wal when the main file is garbage (a crash, then a bad disk)', () => {
    const path = join(dir, 'b.db');
    const db = build(path);
    const expected = db.prepare('SELECT * FROM t ORDER BY id').all();
    // copied while the writer still holds them in the -wal, as kill -9 leaves them
    const copy = join(dir, 'copy.db');
    copyFileSync(path, copy);
    copyFileSync(`${path}-wal`, `${copy}-wal`);
    db.close();
    expect(statSync(`${copy}-wal`).size).toBeGreaterThan(0);
    writeFileSync(copy, randomBytes(readFileSync(copy).length));
    expect(rowsOf(salvageSqliteFile(copy).tableRecords)).toEqual(expected);
  });

  it('ignores -wal frames whose checksum chain is broken', () => {
    const path = join(dir, 'c.db');
    const db = build(path);
    const copy = join(dir, 'copy.db');
    copyFileSync(path, copy);
    const wal = readFileSync(`${path}-wal`);
    db.close();
    randomBytes(64).copy(wal, 32 + 24 + 100); // inside the first frame's page
    writeFileSync(`${copy}-wal`, wal);
    expect(rowsOf(salvageSqliteFile(copy).tableRecords)).toEqual([]);
  });
});
