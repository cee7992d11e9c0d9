import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gvr, KubeList, KubeObject, ViewKey } from '../types.js';
import { CacheStore } from './store.js';

const pods: Gvr = { group: '', version: 'v1', resource: 'pods' };
const secrets: Gvr = { group: '', version: 'v1', resource: 'secrets' };

function pod(
  name: string,
  rv: string,
  extra: { ns?: string; node?: string; labels?: Record<string, string>; phase?: string } = {},
): KubeObject {
  return {
    metadata: {
      name,
      namespace: extra.ns ?? 'default',
      uid: `uid-${name}`,
      resourceVersion: rv,
      ...(extra.labels ? { labels: extra.labels } : {}),
    },
    spec: { nodeName: extra.node ?? 'node-a' },
    status: { phase: extra.phase ?? 'Running' },
  };
}

function list(rv: string, items: KubeObject[], kind = 'PodList'): KubeList {
  return { apiVersion: 'v1', kind, metadata: { resourceVersion: rv }, items };
}

function view(over: Partial<ViewKey> = {}): ViewKey {
  return { identity: 'node', gvr: pods, namespace: '', labelSelector: '', fieldSelector: '', ...over };
}

let dir: string;
let store: CacheStore;
const names = (objs: KubeObject[]) => objs.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-store-'));
  store = new CacheStore({ path: join(dir, 'sub', 'cache.db') });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CacheStore', () => {
  it('creates the file 0600 and survives a reopen', () => {
    store.applyList(view(), list('10', [pod('a', '5'), pod('b', '7')]));
    store.putRaw('/version|json', 'application/json', Buffer.from('{"gitVersion":"v1.32.0"}'));
    store.close();
    expect(statSync(join(dir, 'sub', 'cache.db')).mode & 0o777).toBe(0o600);
    store = new CacheStore({ path: join(dir, 'sub', 'cache.db') });
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('5');
    expect(store.findCoveringView(view())?.complete).toBe(true);
    expect(store.resourceVersion(pods)).toBe('10');
    expect(store.getRaw('/version|json')?.body.toString()).toBe('{"gitVersion":"v1.32.0"}');
    expect(store.getRaw('/missing')).toBeUndefined();
  });

  it('fills kind/apiVersion of list items from the list', () => {
    store.applyList(view(), list('10', [pod('a', '5')]));
    expect(store.getObject(pods, 'default', 'a')).toMatchObject({ apiVersion: 'v1', kind: 'Pod' });
    const v = store.findCoveringView(view())!;
    expect(v).toMatchObject({ listKind: 'PodList', listApiVersion: 'v1', listResourceVersion: '10' });
  });

  it('never moves an object backwards in resourceVersion', () => {
    store.upsertObject(pods, pod('a', '20', { phase: 'Running' }));
    store.upsertObject(pods, pod('a', '9', { phase: 'Pending' }));
    expect(store.getObject(pods, 'default', 'a')?.status).toEqual({ phase: 'Running' });
    // A list taken before the watch event arrives late: the watch's version stays.
    store.applyList(view(), list('15', [pod('a', '12', { phase: 'Pending' })]));
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('20');
    store.upsertObject(pods, pod('a', '100', { phase: 'Succeeded' }));
    expect(store.getObject(pods, 'default', 'a')?.status).toEqual({ phase: 'Succeeded' });
    // RVs compare as integers, not strings
    store.upsertObject(pods, pod('b', '9'));
    store.upsertObject(pods, pod('b', '10'));
    expect(store.getObject(pods, 'default', 'b')?.metadata.resourceVersion).toBe('10');
  });

  it("stores upstream's JSON without the API server's trailing newline (a watch line frames it)", () => {
    const obj = pod('a', '5');
    store.upsertObject(pods, obj, `${JSON.stringify(obj)}\n`);
    expect(store.getBodyText(pods, 'default', 'a')).toBe(JSON.stringify(obj));
  });

  it('keeps an object created after a 404 was cached as a deletion', () => {
    store.upsertObject(pods, pod('a', '5'));
    // A GET answered 404 (the object was deleted upstream meanwhile): forgotten at the newest RV held.
    store.deleteObject(pods, 'default', 'a');
    // The create that follows (kubelet: GET 404, then POST) has a newer RV and must stay.
    store.upsertObject(pods, pod('a', '6'));
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('6');
  });

  it('does not resurrect a deleted object from a stale event', () => {
    store.upsertObject(pods, pod('a', '5'));
    store.applyWatchEvent(pods, { type: 'DELETED', object: pod('a', '8') });
    expect(store.getObject(pods, 'default', 'a')).toBeUndefined();
    store.applyWatchEvent(pods, { type: 'MODIFIED', object: pod('a', '7') });
    expect(store.getObject(pods, 'default', 'a')).toBeUndefined();
    store.applyWatchEvent(pods, { type: 'ADDED', object: pod('a', '9') });
    expect(store.getObject(pods, 'default', 'a')?.metadata.resourceVersion).toBe('9');
  });

  it('applyList removes what the view no longer has, only within its scope', () => {
    const nodeView = view({ fieldSelector: 'spec.nodeName=node-a' });
    store.applyList(view(), list('10', [pod('a', '5'), pod('b', '6', { node: 'node-b' }), pod('c', '7')]));
    store.applyList(nodeView, list('12', [pod('a', '5')]));
    // c was on node-a and is gone from node-a's list; b is out of scope and stays.
    expect(names(store.listObjects(pods, '', '', ''))).toEqual(['default/a', 'default/b']);
    const tombs = store.tombstonesSince(pods, '10');
    expect(tombs.map((t) => [t.name, t.resourceVersion])).toEqual([['c', '12']]);
    expect(tombs[0]!.object.metadata.resourceVersion).toBe('12');
    // c moved to node-b (label change would be the same): a later watch event brings it back.
    store.applyWatchEvent(pods, { type: 'MODIFIED', object: pod('c', '11', { node: 'node-b' }) });
    expect(store.getObject(pods, 'default', 'c')?.spec).toEqual({ nodeName: 'node-b' });
  });

  it('keeps objects newer than the list that removes them', () => {
    store.applyList(view(), list('10', [pod('a', '5')]));
    store.applyWatchEvent(pods, { type: 'ADDED', object: pod('new', '14') });
    store.applyList(view(), list('12', [pod('a', '5')]));
    expect(names(store.listObjects(pods, '', '', ''))).toEqual(['default/a', 'default/new']);
  });

  it('lists with namespace, label and field selectors in (namespace, name) order', () => {
    store.applyList(
      view(),
      list('30', [
        pod('z', '1', { ns: 'a', labels: { app: 'web' } }),
        pod('y', '2', { ns: 'b', labels: { app: 'db' }, node: 'node-b' }),
        pod('x', '3', { ns: 'a', labels: { app: 'web', tier: 'fe' }, phase: 'Pending' }),
        pod('w', '4', { ns: 'b' }),
      ]),
    );
    expect(names(store.listObjects(pods, '', '', ''))).toEqual(['a/x', 'a/z', 'b/w', 'b/y']);
    expect(names(store.listObjects(pods, 'a', '', ''))).toEqual(['a/x', 'a/z']);
    expect(names(store.listObjects(pods, '', 'app=web', ''))).toEqual(['a/x', 'a/z']);
    expect(names(store.listObjects(pods, '', 'app!=web', ''))).toEqual(['b/w', 'b/y']);
    expect(names(store.listObjects(pods, '', '!app', ''))).toEqual(['b/w']);
    expect(names(store.listObjects(pods, '', 'app in (db,web),tier', ''))).toEqual(['a/x']);
    expect(names(store.listObjects(pods, '', '', 'spec.nodeName=node-b'))).toEqual(['b/y']);
    expect(names(store.listObjects(pods, 'a', '', 'spec.nodeName=node-a,status.phase!=Pending'))).toEqual([
      'a/z',
    ]);
    expect(names(store.listObjects(pods, '', '', 'metadata.name=w'))).toEqual(['b/w']);
    expect(() => store.listObjects(pods, '', '', 'spec.bogus=1')).toThrow(
      'field label not supported: spec.bogus',
    );
    expect(() => store.listObjects(pods, '', 'a=(', '')).toThrow();
  });

  it('finds covering views per identity', () => {
    store.applyList(view({ fieldSelector: 'spec.nodeName=node-a' }), list('10', []));
    store.applyList(
      view({ identity: 'tok', namespace: 'kube-system', labelSelector: 'k8s-app' }),
      list('11', []),
    );
    expect(store.findCoveringView(view({ fieldSelector: 'spec.nodeName=node-a' }))).toBeDefined();
    expect(
      store.findCoveringView(view({ fieldSelector: 'spec.nodeName=node-a,status.phase=Running' })),
    ).toBeDefined();
    expect(store.findCoveringView(view())).toBeUndefined();
    expect(store.findCoveringView(view({ fieldSelector: 'spec.nodeName=node-b' }))).toBeUndefined();
    // another identity's view never answers
    expect(
      store.findCoveringView(view({ identity: 'tok', fieldSelector: 'spec.nodeName=node-a' })),
    ).toBeUndefined();
    const tokView = view({ identity: 'tok', namespace: 'kube-system', labelSelector: 'k8s-app=kube-dns' });
    expect(store.findCoveringView(tokView)?.namespace).toBe('kube-system');
    expect(store.findCoveringView({ ...tokView, namespace: 'default' })).toBeUndefined();
    store.markViewIncomplete(view({ identity: 'tok', namespace: 'kube-system', labelSelector: 'k8s-app' }));
    expect(store.findCoveringView(tokView)).toBeUndefined();
    store.markGvrIncomplete(pods);
    expect(store.findCoveringView(view({ fieldSelector: 'spec.nodeName=node-a' }))).toBeUndefined();
    expect(store.views('node', pods)).toHaveLength(1);
  });

  it('tracks the newest resourceVersion per resource, including bookmarks', () => {
    expect(store.resourceVersion(pods)).toBe('');
    store.applyList(view(), list('100', [pod('a', '50')]));
    store.applyWatchEvent(pods, {
      type: 'BOOKMARK',
      object: { metadata: { name: '', resourceVersion: '150' } },
    });
    expect(store.resourceVersion(pods)).toBe('150');
    store.applyWatchEvent(pods, {
      type: 'BOOKMARK',
      object: { metadata: { name: '', resourceVersion: '120' } },
    });
    expect(store.resourceVersion(pods)).toBe('150');
    store.upsertObject(pods, pod('b', '151'));
    expect(store.resourceVersion(pods)).toBe('151');
  });

  it('reconstructs history since an RV: newer objects and tombstones', () => {
    store.applyList(view(), list('100', [pod('a', '50'), pod('b', '60'), pod('c', '70')]));
    expect(store.historyFloor(pods)).toBe('100');
    store.applyWatchEvent(pods, { type: 'MODIFIED', object: pod('a', '101') });
    store.applyWatchEvent(pods, { type: 'DELETED', object: pod('b', '102') });
    store.applyWatchEvent(pods, { type: 'ADDED', object: pod('d', '103') });
    expect(store.objectsNewerThan(pods, '100').map((o) => o.metadata.name)).toEqual(['a', 'd']);
    expect(store.objectsNewerThan(pods, '101').map((o) => o.metadata.name)).toEqual(['d']);
    expect(store.tombstonesSince(pods, '100').map((t) => [t.name, t.resourceVersion, t.uid])).toEqual([
      ['b', '102', 'uid-b'],
    ]);
    expect(store.tombstonesSince(pods, '102')).toEqual([]);
    // losing events makes history unreconstructable until the next complete list
    store.markGvrIncomplete(pods);
    expect(store.historyFloor(pods)).toBe('');
    store.applyList(view(), list('110', [pod('a', '101'), pod('c', '70'), pod('d', '103')]));
    expect(store.historyFloor(pods)).toBe('110');
  });

  it('bounds tombstones and raises the history floor past pruned ones', () => {
    store.close();
    store = new CacheStore({ path: join(dir, 'small.db'), maxTombstonesPerResource: 4 });
    const items = Array.from({ length: 20 }, (_, i) => pod(`p${i}`, String(i + 1)));
    store.applyList(view(), list('20', items));
    for (let i = 0; i < 20; i++)
      store.applyWatchEvent(pods, { type: 'DELETED', object: pod(`p${i}`, String(21 + i)) });
    const left = store.tombstonesSince(pods, '0');
    expect(left.length).toBeLessThanOrEqual(4 + 1);
    expect(left.at(-1)?.name).toBe('p19');
    const floor = Number(store.historyFloor(pods));
    expect(floor).toBeGreaterThan(20);
    // everything after the floor is still there
    expect(store.tombstonesSince(pods, String(floor)).map((t) => Number(t.resourceVersion))).toEqual(
      Array.from({ length: 40 - floor }, (_, i) => floor + 1 + i),
    );
  });

  it('keeps secrets off disk when persistSecrets is false', () => {
    store.close();
    const path = join(dir, 'nosecrets.db');
    store = new CacheStore({ path, persistSecrets: false });
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'token', namespace: 'kube-system', resourceVersion: '3' },
      data: { key: Buffer.from('SUPER-SECRET-VALUE-1234').toString('base64') },
    };
    const sview = view({ gvr: secrets, namespace: 'kube-system' });
    store.applyList(sview, list('3', [secret], 'SecretList'));
    store.upsertObject(pods, pod('a', '4'));
    expect(store.getObject(secrets, 'kube-system', 'token')?.data).toEqual(secret.data);
    expect(store.findCoveringView(sview)?.complete).toBe(true);
    expect(store.stats().find((s) => s.gvr.resource === 'secrets')).toMatchObject({
      objects: 1,
      persisted: false,
    });
    store.close();
    for (const f of [path, `${path}-wal`]) {
      let bytes = '';
      try {
        bytes = readFileSync(f).toString('latin1');
      } catch {}
      expect(bytes).not.toContain(secret.data && (secret.data as Record<string, string>).key);
      expect(bytes).not.toContain('"name":"token"');
    }
    store = new CacheStore({ path, persistSecrets: false });
    expect(store.getObject(secrets, 'kube-system', 'token')).toBeUndefined();
    expect(store.findCoveringView(sview)).toBeUndefined();
    expect(store.getObject(pods, 'default', 'a')).toBeDefined();
  });

  it('reports stats per resource', () => {
    store.applyList(view(), list('10', [pod('a', '5'), pod('b', '6')]));
    const s = store.stats().find((x) => x.gvr.resource === 'pods')!;
    expect(s.objects).toBe(2);
    expect(s.bytes).toBe(
      JSON.stringify(store.getObject(pods, 'default', 'a')).length +
        JSON.stringify(store.getObject(pods, 'default', 'b')).length,
    );
    expect(s.resourceVersion).toBe('10');
    expect(s.lastUpdate).toBeGreaterThan(0);
  });

  it('grants and views decide what an identity may read offline', () => {
    const a = pod('a', '5', { node: 'node-a' });
    const b = pod('b', '6', { node: 'node-b' });
    store.applyList(view({ fieldSelector: 'spec.nodeName=node-a' }), list('10', [a]));
    store.upsertObject(pods, b);
    expect(store.mayRead('node', pods, a)).toBe(true);
    expect(store.mayRead('node', pods, b)).toBe(false);
    expect(store.mayRead('tok', pods, a)).toBe(false);
    store.grant('tok', pods, 'default', 'b');
    expect(store.mayRead('tok', pods, b)).toBe(true);
  });

  it('rolls a failing list back completely', () => {
    store.applyList(view(), list('10', [pod('a', '5')]));
    const bad = list('11', [pod('b', '6'), { metadata: {} } as KubeObject]);
    expect(() => store.applyList(view(), bad)).toThrow(/metadata.name/);
    expect(names(store.listObjects(pods, '', '', ''))).toEqual(['default/a']);
    expect(store.resourceVersion(pods)).toBe('10');
  });

  it('validates options', () => {
    expect(() => new CacheStore({ path: '' })).toThrow(/path/);
    expect(() => new CacheStore({ path: join(dir, 'x.db'), lruMax: 0 })).toThrow(/lruMax/);
  });

  it('is never half-written when the process is killed mid-relist', async () => {
    const path = join(dir, 'crash.db');
    const fixture = join(dirname(fileURLToPath(import.meta.url)), 'crash-child.fixture.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, '1500'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    // Let it get into a later round's transaction, then pull the plug.
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 200)));
    child.kill('SIGKILL');
    await exited;

    const after = new CacheStore({ path });
    try {
      const v = after.findCoveringView(view())!;
      expect(v.complete).toBe(true);
      const round = Math.floor(Number(v.listResourceVersion) / 100000);
      expect(round).toBeGreaterThanOrEqual(2);
      const objs = after.listObjects(pods, '', '', '');
      expect(objs).toHaveLength(1500);
      for (const o of objs) expect(o.metadata.labels?.round).toBe(String(round));
      expect(after.resourceVersion(pods)).toBe(v.listResourceVersion);
    } finally {
      after.close();
    }
  });
});
