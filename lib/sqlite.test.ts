import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './sqlite.js';

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Another process that creates the new file's first table in a rollback-mode write transaction and
 * holds it for `holdMs`: what a parallel first open does while it converts and stamps the file.
 */
function holdWriteLockOnNewFile(path: string, holdMs: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const D = require(${JSON.stringify(betterSqlite3)});
       const db = new D(${JSON.stringify(path)});
       db.exec('BEGIN IMMEDIATE'); db.exec('CREATE TABLE first (a)');
       process.stdout.write('holding\\n');
       setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}

describe('openDatabase', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('waits for a parallel first open that holds the new file, then switches it to WAL', async () => {
    dir = mkdtempSync(join(tmpdir(), 'islet-sqlite-open-'));
    const path = join(dir, 'new.db');
    const holder = await holdWriteLockOnNewFile(path, 300);
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    // SQLite answers the WAL switch's read-to-write upgrade with SQLITE_BUSY at once here, without
    // the busy handler: the open must wait it out like any other lock.
    const db = openDatabase(path, { busyTimeoutMs: 10_000 });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual([
        'first',
      ]);
    } finally {
      db.close();
      await exited;
    }
  });

  it('still fails with SQLITE_BUSY once the busy timeout has passed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'islet-sqlite-open-'));
    const path = join(dir, 'new.db');
    const holder = await holdWriteLockOnNewFile(path, 2_000);
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      expect(() => openDatabase(path, { busyTimeoutMs: 100 })).toThrow(
        expect.objectContaining({ code: 'SQLITE_BUSY' }),
      );
    } finally {
      holder.kill();
      await exited;
    }
  });
});
