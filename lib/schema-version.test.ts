import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../plugins/cni/errors.js';
import { SCHEMA_VERSION as IPAM_VERSION, Store } from '../plugins/islet/store.js';
import { CACHE_SCHEMA } from '../proxy/cache/cache-file.js';
import { CacheStore } from '../proxy/cache/store.js';
import { WriteQueue } from '../proxy/writes/queue.js';
import { checkSchemaVersion } from './schema-version.js';
import { openDatabase } from './sqlite.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-schema-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function setUserVersion(path: string, version: number): void {
  const db = openDatabase(path);
  db.pragma(`user_version = ${version}`);
  db.close();
}

describe('the schema-version rule', () => {
  it('migrates an older file once, from the version it holds, and records the new version', () => {
    const path = join(dir, 'x.db');
    const seen: number[] = [];
    const rule = {
      version: 2,
      migrate: (db: ReturnType<typeof openDatabase>, from: number) => {
        seen.push(from);
        db.exec('CREATE TABLE IF NOT EXISTS t (x)');
      },
    };
    const db = openDatabase(path);
    expect(checkSchemaVersion(db, rule)).toBe(0);
    expect(checkSchemaVersion(db, rule)).toBe(2);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(seen).toEqual([0]);
    db.close();
  });

  it('refuses a newer file with its path and both versions, and changes nothing', () => {
    const path = join(dir, 'x.db');
    setUserVersion(path, 3);
    const db = openDatabase(path);
    let migrated = false;
    expect(() =>
      checkSchemaVersion(db, {
        version: 2,
        migrate: () => {
          migrated = true;
        },
      }),
    ).toThrow(`${path}: schema version 3 is newer than this islet understands (2)`);
    expect(migrated).toBe(false);
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    db.close();
  });

  it('rolls an interrupted migration back, so the next open runs it again', () => {
    const path = join(dir, 'x.db');
    const db = openDatabase(path);
    const failing = {
      version: 1,
      migrate: (d: ReturnType<typeof openDatabase>) => {
        d.exec('CREATE TABLE t (x)');
        throw new Error('power cut');
      },
    };
    expect(() => checkSchemaVersion(db, failing)).toThrow('power cut');
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('each SQLite file follows it', () => {
  const pods = { group: '', version: 'v1', resource: 'pods' };

  it('cache.db written by the release before the rule (meta table, no etag column) opens and is migrated', () => {
    const path = join(dir, 'cache.db');
    const fresh = new CacheStore({ path });
    fresh.upsertObject(pods, { metadata: { name: 'p', namespace: 'd', resourceVersion: '5' } });
    fresh.close();
    // The same tables as that release wrote them: its layout named in `meta`, user_version 0,
    // and raw_v1 as first shipped (ETags were added to it later).
    const old = openDatabase(path);
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta (key, value) VALUES ('schema', 'islet-cache-v1');
      DROP TABLE raw_v1;
      CREATE TABLE raw_v1 (key TEXT PRIMARY KEY, content_type TEXT NOT NULL, body BLOB NOT NULL, updated_at INTEGER NOT NULL);
      INSERT INTO raw_v1 VALUES ('/version', 'application/json', CAST('{}' AS BLOB), 0);
      PRAGMA user_version = 0;
    `);
    old.close();

    const store = new CacheStore({ path });
    expect(store.getObject(pods, 'd', 'p')?.metadata.resourceVersion).toBe('5');
    expect(store.getRaw('/version')).toEqual({
      contentType: 'application/json',
      body: Buffer.from('{}'),
      etag: '',
    });
    store.putRaw('/api', 'application/json', Buffer.from('{}'), '"e1"');
    expect(store.getRaw('/api')?.etag).toBe('"e1"');
    store.close();
    const db = openDatabase(path);
    expect(db.pragma('user_version', { simple: true })).toBe(CACHE_SCHEMA.version);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'meta'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('cache.db naming another layout in its meta table is refused, as before the rule', () => {
    const path = join(dir, 'cache.db');
    const old = openDatabase(path);
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta (key, value) VALUES ('schema', 'islet-cache-v9');`);
    old.close();
    expect(() => new CacheStore({ path })).toThrow(
      `CacheStore: ${path} holds schema "islet-cache-v9", this version reads "islet-cache-v1"`,
    );
  });

  it('a newer cache.db, writes.db and ipam.db are refused with the same message', () => {
    const cache = join(dir, 'cache.db');
    const writes = join(dir, 'writes.db');
    const ipam = join(dir, 'ipam.db');
    new CacheStore({ path: cache }).close();
    new WriteQueue(writes).close();
    Store.open(ipam, 1000).close();
    for (const [path, current] of [
      [cache, CACHE_SCHEMA.version],
      [writes, 1],
      [ipam, IPAM_VERSION],
    ] as const)
      setUserVersion(path, current + 1);

    const newer = (path: string, current: number) =>
      `${path}: schema version ${current + 1} is newer than this islet understands (${current})`;
    expect(() => new CacheStore({ path: cache })).toThrow(newer(cache, CACHE_SCHEMA.version));
    expect(() => new WriteQueue(writes)).toThrow(newer(writes, 1));
    // The CNI plugin's own error: code 5 (I/O), as for any database it cannot use.
    expect(() => Store.open(ipam, 1000)).toThrow(
      expect.objectContaining({ constructor: CniError, code: 5, message: newer(ipam, IPAM_VERSION) }),
    );
  });

  it('writes.db and ipam.db keep the user_version they already had (1): their files need no migration', () => {
    const writes = join(dir, 'writes.db');
    const ipam = join(dir, 'ipam.db');
    new WriteQueue(writes).close();
    Store.open(ipam, 1000).close();
    for (const [path, version] of [
      [writes, 1],
      [ipam, IPAM_VERSION],
    ] as const) {
      const db = openDatabase(path);
      expect(checkSchemaVersion(db, { version, migrate: () => expect.unreachable() })).toBe(version);
      db.close();
    }
    const q = new WriteQueue(writes);
    expect(q.size()).toBe(0);
    q.close();
  });
});
