import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import type { Gvr, KubeObject, ViewKey } from '../types.js';
import { CacheStore } from './store.js';
import { CacheWriter } from './writer.js';

const pods: Gvr = { group: '', version: 'v1', resource: 'pods' };
const v: ViewKey = { identity: 'node', gvr: pods, namespace: '', labelSelector: '', fieldSelector: '' };
const pod = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'default', resourceVersion: rv },
});

let dir: string;
let store: CacheStore;
const logs: string[] = [];
const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-writer-'));
  store = new CacheStore({ path: join(dir, 'cache.db') });
  logs.length = 0;
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CacheWriter', () => {
  it('applies updates later, in order, without blocking the caller', async () => {
    const w = new CacheWriter({ store, logger });
    for (let i = 1; i <= 1000; i++)
      expect(w.enqueue(() => store.upsertObject(pods, pod('a', String(i))), pods)).toBe(true);
    // nothing applied synchronously: the caller's stream goes on at once
    expect(store.getObject(pods, 'default', 'a')).toBeUndefined();
    expect(w.pending).toBe(1000);
    await w.flush();
    expect(w.pending).toBe(0);
    expect(w.applied).toBe(1000);
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('1000');
  });

  it('drops on overflow and marks the view incomplete, even past a queued list', async () => {
    store.applyList(v, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items: [] });
    const w = new CacheWriter({ store, maxQueue: 2, logger });
    const list = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: '5' },
      items: [pod('a', '5')],
    };
    expect(w.enqueue(() => store.applyList(v, list), v)).toBe(true);
    expect(w.enqueue(() => store.upsertObject(pods, pod('b', '6')), v)).toBe(true);
    expect(w.enqueue(() => store.upsertObject(pods, pod('c', '7')), v)).toBe(false);
    expect(w.dropped).toBe(1);
    // marked at once...
    expect(store.findCoveringView(v)).toBeUndefined();
    await w.flush();
    // ...and still after the queued list was applied
    expect(store.findCoveringView(v)).toBeUndefined();
    expect(store.getObject(pods, 'default', 'b')).toBeDefined();
    expect(store.getObject(pods, 'default', 'c')).toBeUndefined();
    expect(logs.some((l) => l.includes('marking incomplete'))).toBe(true);
  });

  it('marks every view of a resource incomplete when a watch event is dropped', async () => {
    store.applyList(v, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items: [] });
    const w = new CacheWriter({ store, maxQueue: 1 });
    w.enqueue(() => store.upsertObject(pods, pod('a', '2')), pods);
    expect(w.enqueue(() => store.upsertObject(pods, pod('b', '3')), pods)).toBe(false);
    await w.flush();
    expect(store.findCoveringView(v)).toBeUndefined();
  });

  it('isolates a failing update: others in the batch commit, its scope goes incomplete', async () => {
    store.applyList(v, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items: [] });
    const w = new CacheWriter({ store, logger });
    w.enqueue(() => store.upsertObject(pods, pod('a', '2')), pods);
    w.enqueue(() => {
      store.upsertObject(pods, pod('half', '3'));
      throw new Error('parse failed');
    }, v);
    w.enqueue(() => store.upsertObject(pods, pod('b', '4')), pods);
    await w.flush();
    expect(w.failed).toBe(1);
    expect(store.getObject(pods, 'default', 'a')).toBeDefined();
    expect(store.getObject(pods, 'default', 'b')).toBeDefined();
    // the failing update's partial write was rolled back with it
    expect(store.getObject(pods, 'default', 'half')).toBeUndefined();
    expect(store.findCoveringView(v)).toBeUndefined();
  });

  it('refuses updates after close', async () => {
    const w = new CacheWriter({ store });
    w.enqueue(() => store.upsertObject(pods, pod('a', '1')));
    await w.close();
    expect(store.getObject(pods, 'default', 'a')).toBeDefined();
    expect(w.enqueue(() => store.upsertObject(pods, pod('b', '1')))).toBe(false);
  });

  it('validates options', () => {
    expect(() => new CacheWriter({ store, maxQueue: 0 })).toThrow(/maxQueue/);
    expect(() => new CacheWriter({ store, batchSize: 1.5 })).toThrow(/batchSize/);
  });
});
