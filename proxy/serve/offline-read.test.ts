import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheStore } from '../cache/store.js';
import { parseRequestInfo } from '../request-info.js';
import type { Gvr, Identity, KubeList, KubeObject, ViewKey } from '../types.js';
import { offlineGet, offlineList } from './offline-read.js';

const pods: Gvr = { group: '', version: 'v1', resource: 'pods' };
const slices: Gvr = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' };
const node: Identity = { kind: 'node', id: 'node' };
const token: Identity = { kind: 'token', id: 'sha-tok', authorization: 'Bearer x' };

function pod(
  ns: string,
  name: string,
  rv: string,
  nodeName: string,
  labels?: Record<string, string>,
): KubeObject {
  return {
    metadata: { name, namespace: ns, uid: `u-${name}`, resourceVersion: rv, ...(labels ? { labels } : {}) },
    spec: { nodeName },
    status: { phase: 'Running' },
  };
}

function list(apiVersion: string, kind: string, rv: string, items: KubeObject[]): KubeList {
  return { apiVersion, kind, metadata: { resourceVersion: rv }, items };
}

function view(identity: string, gvr: Gvr, over: Partial<ViewKey> = {}): ViewKey {
  return { identity, gvr, namespace: '', labelSelector: '', fieldSelector: '', ...over };
}

const get = (url: string, id: Identity = node, accept?: string) =>
  offlineGet(store, parseRequestInfo('GET', url), id, accept ? { accept } : {});
const lst = (url: string, id: Identity = node, accept?: string) =>
  offlineList(store, parseRequestInfo('GET', url), id, accept ? { accept } : {});
// biome-ignore lint/suspicious/noExplicitAny: test helper over JSON answers
const json = (r: { body: string }): any => JSON.parse(r.body);

let dir: string;
let store: CacheStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-offline-'));
  store = new CacheStore({ path: join(dir, 'cache.db') });
  store.applyList(
    view('node', pods, { fieldSelector: 'spec.nodeName=node-a' }),
    list('v1', 'PodList', '500', [
      pod('default', 'web-1', '100', 'node-a', { app: 'web' }),
      pod('default', 'web-2', '101', 'node-a', { app: 'web' }),
      pod('kube-system', 'dns', '102', 'node-a', { 'k8s-app': 'kube-dns' }),
      pod('default', 'db-1', '103', 'node-a', { app: 'db' }),
    ]),
  );
  store.upsertObject(pods, { ...pod('default', 'other', '104', 'node-b'), kind: 'Pod', apiVersion: 'v1' });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('offlineGet', () => {
  it('answers a held object with kind and apiVersion', () => {
    const r = get('/api/v1/namespaces/default/pods/web-1');
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'web-1', resourceVersion: '100' },
    });
  });

  it('answers 404 Status for unknown objects', () => {
    const r = get('/api/v1/namespaces/default/pods/nope');
    expect(r.status).toBe(404);
    expect(json(r)).toMatchObject({
      kind: 'Status',
      code: 404,
      reason: 'NotFound',
      message: 'pods "nope" not found',
      details: { name: 'nope', kind: 'pods' },
    });
  });

  it('never widens a token identity beyond what it read', () => {
    expect(get('/api/v1/namespaces/default/pods/web-1', token).status).toBe(503);
    store.grant(token.id, pods, 'default', 'web-1');
    expect(get('/api/v1/namespaces/default/pods/web-1', token).status).toBe(200);
    expect(get('/api/v1/namespaces/default/pods/web-2', token).status).toBe(503);
  });

  it('refuses Table output and builds metadata-only output', () => {
    const tableOnly = 'application/json;as=Table;v=v1;g=meta.k8s.io';
    expect(get('/api/v1/namespaces/default/pods/web-1', node, tableOnly).status).toBe(406);
    // kubectl's header ends in plain JSON: that is served, kubectl prints it itself
    const kubectl =
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const r = get('/api/v1/namespaces/default/pods/web-1', node, kubectl);
    expect(r.status).toBe(200);
    expect(json(r).kind).toBe('Pod');
    expect(
      get('/api/v1/namespaces/default/pods/web-1', node, `${tableOnly},application/json;q=0`).status,
    ).toBe(406);
    const meta = get(
      '/api/v1/namespaces/default/pods/web-1',
      node,
      'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    );
    expect(json(meta)).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: {
        name: 'web-1',
        namespace: 'default',
        uid: 'u-web-1',
        resourceVersion: '100',
        labels: { app: 'web' },
      },
    });
  });

  it('does not pretend to serve other subresources', () => {
    expect(get('/api/v1/namespaces/default/pods/web-1/log').status).toBe(503);
  });
});

describe('offlineList', () => {
  it("serves kubelet's own pod list from its complete view", () => {
    const r = lst('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    expect(r.status).toBe(200);
    const body = json(r);
    expect(body.kind).toBe('PodList');
    expect(body.apiVersion).toBe('v1');
    expect(body.metadata.resourceVersion).toBe('500');
    expect(body.items.map((p: KubeObject) => p.metadata.name)).toEqual(['db-1', 'web-1', 'web-2', 'dns']);
  });

  it('filters locally by namespace and selectors from a covering view', () => {
    const names = (url: string) => json(lst(url)).items.map((p: KubeObject) => p.metadata.name);
    expect(
      names('/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dnode-a&labelSelector=app%3Dweb'),
    ).toEqual(['web-1', 'web-2']);
    expect(names('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a,metadata.name%3Ddns')).toEqual(['dns']);
    expect(names('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a&labelSelector=app+notin+(web)')).toEqual([
      'db-1',
      'dns',
    ]);
  });

  it('refuses lists no complete view covers, never answering empty', () => {
    for (const url of [
      '/api/v1/pods',
      '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b',
      '/api/v1/namespaces/default/pods',
    ]) {
      const r = lst(url);
      expect(r.status).toBe(503);
      expect(json(r)).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
      expect(json(r).message).toMatch(/no complete cached list for pods/);
    }
    // someone else's view does not count
    expect(lst('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a', token).status).toBe(503);
    store.markViewIncomplete(view('node', pods, { fieldSelector: 'spec.nodeName=node-a' }));
    expect(lst('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a').status).toBe(503);
  });

  it('answers an empty list when the complete view is truly empty', () => {
    store.applyList(
      view(token.id, slices, {
        namespace: 'kube-system',
        labelSelector: 'kubernetes.io/service-name=kube-dns',
      }),
      list('discovery.k8s.io/v1', 'EndpointSliceList', '600', []),
    );
    const r = lst(
      '/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io/service-name%3Dkube-dns',
      token,
    );
    expect(r.status).toBe(200);
    expect(json(r)).toEqual({
      kind: 'EndpointSliceList',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { resourceVersion: '600' },
      items: [],
    });
  });

  it('pages with limit and a validated continue token', () => {
    const base = '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a';
    const p1 = json(lst(`${base}&limit=3`));
    expect(p1.items.map((p: KubeObject) => p.metadata.name)).toEqual(['db-1', 'web-1', 'web-2']);
    expect(p1.metadata.continue).toBeTruthy();
    expect(p1.metadata.remainingItemCount).toBeUndefined(); // selectors: not counted
    // a change between pages does not move the list's RV
    store.upsertObject(pods, pod('default', 'zzz', '700', 'node-a'));
    const p2 = json(lst(`${base}&limit=3&continue=${encodeURIComponent(p1.metadata.continue)}`));
    expect(p2.items.map((p: KubeObject) => p.metadata.name)).toEqual(['zzz', 'dns']);
    expect(p2.metadata.continue).toBeUndefined();
    expect(p2.metadata.resourceVersion).toBe('500');
    for (const bad of ['garbage!', Buffer.from('{"v":2}').toString('base64url'), 'eyJ2IjoxfQ']) {
      const r = lst(`${base}&continue=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(400);
      expect(json(r).message).toBe('continue key is not valid');
    }
    expect(lst(`${base}&continue=${encodeURIComponent(p1.metadata.continue)}&resourceVersion=5`).status).toBe(
      400,
    );
  });

  it('counts remaining items when no selector filters', () => {
    store.applyList(
      view('node', pods),
      list('v1', 'PodList', '800', [pod('a', 'p1', '1', 'n'), pod('a', 'p2', '2', 'n')]),
    );
    const r = json(lst('/api/v1/pods?limit=1'));
    expect(r.metadata).toMatchObject({ remainingItemCount: 1, resourceVersion: '800' });
    expect(r.items).toHaveLength(1);
  });

  it('reports the version its view is complete at, which only a watch of that view moves up', () => {
    const url = '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a';
    const mine = view('node', pods, { fieldSelector: 'spec.nodeName=node-a' });
    const bookmark = (rv: string) => ({
      type: 'BOOKMARK' as const,
      object: { metadata: { name: '', resourceVersion: rv } },
    });
    // Another scope's stream (node-b's pods) is ahead: the resource's newest version is not ours.
    store.applyWatchEvent(
      pods,
      { type: 'MODIFIED', object: pod('default', 'other', '900', 'node-b') },
      {
        view: view('node', pods, { fieldSelector: 'spec.nodeName=node-b' }),
        since: '104',
      },
    );
    expect(store.resourceVersion(pods)).toBe('900');
    expect(json(lst(url)).metadata.resourceVersion).toBe('500');
    // A stream of this view that started after its list left a gap: nothing known of 500..600.
    store.applyWatchEvent(pods, bookmark('950'), { view: mine, since: '600' });
    expect(json(lst(url)).metadata.resourceVersion).toBe('500');
    // One that has applied everything since the list: the view is complete at its events.
    store.applyWatchEvent(
      pods,
      { type: 'MODIFIED', object: pod('default', 'web-1', '960', 'node-a') },
      {
        view: mine,
        since: '500',
      },
    );
    store.applyWatchEvent(pods, bookmark('970'), { view: mine, since: '500' });
    expect(json(lst(url)).metadata.resourceVersion).toBe('970');
    // A list of the scope at an older version landing late (another client's) changes nothing the
    // newer state holds, and the view stays complete at the newer version.
    store.applyList(
      mine,
      list('v1', 'PodList', '700', [
        pod('default', 'web-1', '100', 'node-a', { app: 'web' }),
        pod('default', 'web-2', '101', 'node-a', { app: 'web' }),
        pod('kube-system', 'dns', '102', 'node-a', { 'k8s-app': 'kube-dns' }),
        pod('default', 'db-1', '103', 'node-a', { app: 'db' }),
      ]),
    );
    const after = json(lst(url));
    expect(after.metadata.resourceVersion).toBe('970');
    expect(after.items.map((p: KubeObject) => `${p.metadata.name}@${p.metadata.resourceVersion}`)).toEqual([
      'db-1@103',
      'web-1@960',
      'web-2@101',
      'dns@102',
    ]);
  });

  it('honours resourceVersion semantics it can and refuses the rest', () => {
    const base = '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a';
    expect(lst(`${base}&resourceVersion=0`).status).toBe(200);
    expect(lst(`${base}&resourceVersion=400`).status).toBe(200);
    const tooNew = lst(`${base}&resourceVersion=99999`);
    expect(tooNew.status).toBe(504);
    expect(json(tooNew).details.causes[0].reason).toBe('ResourceVersionTooLarge');
    expect(lst(`${base}&resourceVersion=500&resourceVersionMatch=Exact`).status).toBe(200);
    expect(lst(`${base}&resourceVersion=400&resourceVersionMatch=Exact`).status).toBe(410);
  });

  it('rejects bad selectors with 400 and Table with 406', () => {
    const r = lst('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a,spec.bogus%3D1');
    expect(r.status).toBe(400);
    expect(json(r).message).toBe('field label not supported: spec.bogus');
    expect(lst('/api/v1/pods?labelSelector=a%3D(').status).toBe(400);
    expect(
      lst(
        '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a',
        node,
        'application/json;as=Table;v=v1;g=meta.k8s.io',
      ).status,
    ).toBe(406);
  });

  it('builds PartialObjectMetadataList', () => {
    const r = json(
      lst(
        '/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dnode-a',
        node,
        'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
      ),
    );
    expect(r.kind).toBe('PartialObjectMetadataList');
    expect(r.items).toEqual([
      {
        kind: 'PartialObjectMetadata',
        apiVersion: 'meta.k8s.io/v1',
        metadata: {
          name: 'dns',
          namespace: 'kube-system',
          uid: 'u-dns',
          resourceVersion: '102',
          labels: { 'k8s-app': 'kube-dns' },
        },
      },
    ]);
  });

  it('survives a restart: the offline reboot case', () => {
    store.close();
    store = new CacheStore({ path: join(dir, 'cache.db') });
    const r = lst('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    expect(r.status).toBe(200);
    expect(json(r).items).toHaveLength(4);
  });

  it('lists in the API server key order (namespace/name as bytes) and pages across it', () => {
    const all = view('node', pods);
    store.applyList(
      all,
      list('v1', 'PodList', '900', [
        pod('a', 'x', '1', 'n'),
        pod('a-b', 'x', '2', 'n'),
        pod('a', 'a-1', '3', 'n'),
        pod('a.c', 'y', '4', 'n'),
      ]),
    );
    const keys = (b: { items: KubeObject[] }) =>
      b.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    expect(keys(json(lst('/api/v1/pods')))).toEqual(['a-b/x', 'a.c/y', 'a/a-1', 'a/x']);
    const p1 = json(lst('/api/v1/pods?limit=2'));
    const p2 = json(lst(`/api/v1/pods?limit=2&continue=${p1.metadata.continue}`));
    expect([...keys(p1), ...keys(p2)]).toEqual(['a-b/x', 'a.c/y', 'a/a-1', 'a/x']);
  });
});

describe('cluster-scoped resources', () => {
  it('finds a namespace by the name its own path gives as namespace', () => {
    const namespaces: Gvr = { group: '', version: 'v1', resource: 'namespaces' };
    store.applyList(
      view('node', namespaces),
      list('v1', 'NamespaceList', '50', [{ metadata: { name: 'kube-system', resourceVersion: '7' } }]),
    );
    const r = get('/api/v1/namespaces/kube-system');
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'kube-system' } });
    expect(get('/api/v1/namespaces/nope').status).toBe(404);
    const nodes: Gvr = { group: '', version: 'v1', resource: 'nodes' };
    store.applyList(
      view('node', nodes, { fieldSelector: 'metadata.name=node-a' }),
      list('v1', 'NodeList', '60', [{ metadata: { name: 'node-a', resourceVersion: '8' } }]),
    );
    // kubelet's own node list: the field selector names the object, the verb stays list
    const info = parseRequestInfo('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dnode-a');
    expect(info.verb).toBe('list');
    const nl = json(offlineList(store, info, node));
    expect(nl.kind).toBe('NodeList');
    expect(nl.items.map((n: KubeObject) => n.metadata.name)).toEqual(['node-a']);
    expect(get('/api/v1/nodes/node-a').status).toBe(200);
  });
});
