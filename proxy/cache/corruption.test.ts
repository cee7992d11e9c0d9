import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gvr, KubeObject, ViewKey } from '../types.js';
import type { CorruptionEvent } from './cache-file.js';
import { isCacheCorruption, KEEP_CORRUPT_COPIES, setAsideCorrupt } from './corruption.js';
import { CacheStore } from './store.js';

const pods: Gvr = { group: '', version: 'v1', resource: 'pods' };
const allPods: ViewKey = { identity: 'node', gvr: pods, namespace: '', labelSelector: '', fieldSelector: '' };

function pod(i: number, rv: number): KubeObject {
  return {
    metadata: { name: `p-${i}`, namespace: 'default', uid: `u-${i}`, resourceVersion: String(rv) },
    // About 1 KiB each: 10,000 of them are several times SQLite's 2 MiB page cache.
    spec: { nodeName: 'node-a', note: 'x'.repeat(1000) },
  };
}

function fill(store: CacheStore, n: number): void {
  const items = Array.from({ length: n }, (_, i) => pod(i, i + 1));
  store.applyList(allPods, {
    apiVersion: 'v1',
    kind: 'PodList',
    metadata: { resourceVersion: String(n) },
    items,
  });
}

/** Overwrites the middle third of the file's pages with bytes that are no b-tree page. */
function garbleMiddle(path: string): void {
  const pages = Math.floor(statSync(path).size / 4096);
  const fd = openSync(path, 'r+');
  const junk = Buffer.alloc(4096, 0xa5);
  for (let p = Math.floor(pages / 3); p < Math.floor((2 * pages) / 3); p++)
    writeSync(fd, junk, 0, junk.length, p * 4096);
  closeSync(fd);
}

/** Moves what the WAL holds into the main file, as SQLite's auto-checkpoint eventually does. */
function checkpoint(path: string): void {
  const db = new Database(path);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

let dir: string;
let path: string;
let events: CorruptionEvent[];
const open = () => new CacheStore({ path, onCorrupt: (e) => events.push(e) });
const setAside = () =>
  readdirSync(dir).filter((f) => f.startsWith('cache.db.corrupt-') && !/-(wal|shm)$/.test(f));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-corrupt-'));
  path = join(dir, 'cache.db');
  events = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a damaged cache file', () => {
  it('with a garbage header is set aside at open and an empty cache takes its place', () => {
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x42));
    const store = open();
    expect(events).toMatchObject([{ phase: 'open', path }]);
    expect(isCacheCorruption(events[0]!.error)).toBe(true);
    expect(setAside()).toHaveLength(1);
    expect(events[0]!.movedTo).toBe(join(dir, setAside()[0]!));
    // The moved file is kept as it was, for diagnosis.
    expect(statSync(events[0]!.movedTo).size).toBe(64 * 1024);
    fill(store, 3);
    expect(store.listEntries(pods, '', '', '')).toHaveLength(3);
    store.close();
  });

  it('with garbage in the middle is found by the start-up check', () => {
    const first = open();
    fill(first, 10_000);
    first.close();
    garbleMiddle(path);
    const store = open();
    expect(events).toMatchObject([{ phase: 'open' }]);
    expect(events[0]!.error.message).toMatch(/integrity check failed|malformed/);
    expect(store.findCoveringView(allPods)).toBeUndefined();
    fill(store, 5);
    expect(store.findCoveringView(allPods)?.complete).toBe(true);
    expect(store.listEntries(pods, '', '', '')).toHaveLength(5);
    store.close();
  });

  it('damaged while open fails one operation, then is replaced and refills', () => {
    const store = open();
    fill(store, 10_000);
    checkpoint(path);
    garbleMiddle(path);
    let failure: unknown;
    try {
      store.listEntries(pods, '', '', '');
    } catch (err) {
      failure = err;
    }
    expect(isCacheCorruption(failure)).toBe(true);
    expect(events).toMatchObject([{ phase: 'runtime' }]);
    expect(setAside()).toHaveLength(1);
    const generation = store.generation;
    expect(generation).toBe(1);
    // Not stuck: the fresh file takes the refill, and reads answer from it.
    expect(store.findCoveringView(allPods)).toBeUndefined();
    fill(store, 7);
    expect(store.listEntries(pods, '', '', '')).toHaveLength(7);
    expect(store.generation).toBe(generation);
    store.close();
    // And it is a sound file when opened again.
    const again = open();
    expect(again.listEntries(pods, '', '', '')).toHaveLength(7);
    expect(events).toHaveLength(1);
    again.close();
  });

  it('damage found inside a batch is replaced once the batch is over', () => {
    const store = open();
    fill(store, 10_000);
    checkpoint(path);
    garbleMiddle(path);
    let inner: unknown;
    let seenInside = -1;
    // The commit may fail as well (SQLite rolled the transaction back): the writer handles that.
    const outer = (() => {
      try {
        store.batch(() => {
          try {
            store.listEntries(pods, '', '', '');
          } catch (err) {
            inner = err;
          }
          seenInside = events.length;
        });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    if (outer !== undefined) expect(isCacheCorruption(outer)).toBe(true);
    // Still inside the transaction, the file was not swapped under it.
    expect(seenInside).toBe(0);
    expect(isCacheCorruption(inner)).toBe(true);
    expect(events).toMatchObject([{ phase: 'runtime' }]);
    fill(store, 2);
    expect(store.listEntries(pods, '', '', '')).toHaveLength(2);
    store.close();
  });

  it(`keeps at most ${KEEP_CORRUPT_COPIES} set-aside copies, with their WAL`, () => {
    for (let i = 0; i < KEEP_CORRUPT_COPIES + 2; i++) {
      writeFileSync(path, `bad ${i}`);
      writeFileSync(`${path}-wal`, `wal ${i}`);
      setAsideCorrupt(path, new Date(Date.UTC(2030, 0, 1, 0, 0, i)));
    }
    const kept = setAside().sort();
    expect(kept).toHaveLength(KEEP_CORRUPT_COPIES);
    expect(kept[0]).toContain('2030-01-01T00-00-02');
    for (const k of kept) expect(existsSync(join(dir, `${k}-wal`))).toBe(true);
    expect(existsSync(path)).toBe(false);
  });
});
