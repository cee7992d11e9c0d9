/**
 * The simulator over the wire, with a raw HTTPS client: auth, discovery, CRUD, patches, LIST
 * semantics, WATCH semantics (initial state, resume, 410, bookmarks, timeouts, selector
 * transitions) and the test controls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertFiles,
  type ClientAuth,
  rawRequest,
  rawWatch,
  type Simulator,
  startSimulator,
} from './index.js';

let sim: Simulator;
let cert: CertFiles;
let auth: ClientAuth;

const req = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  rawRequest(sim.url, auth, method, path, body, headers);

function pod(name: string, labels: Record<string, string> = {}, nodeName = 'node-a', namespace = 'default') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox:1.36' }] },
  };
}

beforeAll(async () => {
  sim = await startSimulator({
    bookmarkIntervalMs: 200,
    tokens: { 'tok-1': { user: 'alice', groups: ['devs'] } },
  });
  cert = await sim.mintClientCert('node-a');
  auth = { ca: sim.caPem, cert };
});

afterAll(async () => {
  await sim?.close();
});

describe('authentication', () => {
  it('rejects requests without credentials with a 401 Status, but serves health anonymously', async () => {
    const r = await rawRequest(sim.url, { ca: sim.caPem }, 'GET', '/api/v1/pods');
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    const h = await rawRequest(sim.url, { ca: sim.caPem }, 'GET', '/readyz');
    expect(h.status).toBe(200);
    expect(h.body.toString()).toBe('ok');
  });

  it('identifies client certificates and bearer tokens; a revoked certificate is refused', async () => {
    sim.resetCounters();
    expect((await req('GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    expect(
      (await rawRequest(sim.url, { ca: sim.caPem, token: 'tok-1' }, 'GET', '/api/v1/nodes')).status,
    ).toBe(200);
    expect((await rawRequest(sim.url, { ca: sim.caPem, token: 'nope' }, 'GET', '/api/v1/nodes')).status).toBe(
      401,
    );
    const [a, b] = sim.requests;
    expect(a!.identity).toMatchObject({ user: 'system:node:node-a', via: 'cert', certSerial: cert.serial });
    expect(a!.identity!.groups).toContain('system:nodes');
    expect(b!.identity).toMatchObject({ user: 'alice', via: 'token' });
    expect(b!.identity!.groups).toContain('devs');

    const rotated = await sim.mintClientCert('node-a');
    expect(rotated.serial).not.toBe(cert.serial);
    sim.revokeClientCert(rotated);
    expect((await rawRequest(sim.url, { ca: sim.caPem, cert: rotated }, 'GET', '/api/v1/pods')).status).toBe(
      401,
    );
    expect((await req('GET', '/api/v1/pods')).status).toBe(200);
  });
});

describe('discovery', () => {
  it('serves legacy and aggregated discovery, /version and resource lists', async () => {
    const api = await req('GET', '/api');
    expect(api.json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const apis = await req('GET', '/apis');
    expect(apis.json.groups.map((g: { name: string }) => g.name)).toEqual([
      'discovery.k8s.io',
      'coordination.k8s.io',
      'events.k8s.io',
    ]);
    const v1 = await req('GET', '/api/v1');
    const pods = v1.json.resources.find((r: { name: string }) => r.name === 'pods');
    expect(pods).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'] });
    expect(pods.verbs).toContain('watch');
    expect(v1.json.resources.find((r: { name: string }) => r.name === 'nodes').namespaced).toBe(false);
    expect(v1.json.resources.some((r: { name: string }) => r.name === 'pods/status')).toBe(true);
    const agg = await req('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(agg.headers['content-type']).toBe(
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
    expect(agg.json.kind).toBe('APIGroupDiscoveryList');
    const coord = agg.json.items.find(
      (i: { metadata: { name: string } }) => i.metadata.name === 'coordination.k8s.io',
    );
    expect(coord.versions[0].resources[0]).toMatchObject({ resource: 'leases', scope: 'Namespaced' });
    expect((await req('GET', '/version')).json.major).toBe('1');
    expect((await req('GET', '/apis/coordination.k8s.io/v1')).json.resources[0].name).toBe('leases');
    expect((await req('GET', '/apis/nope.example.com/v1')).status).toBe(404);
  });
});

describe('CRUD', () => {
  it('creates, conflicts, updates with resourceVersion checks and deletes like the API server', async () => {
    const created = await req('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'crud' },
      data: { a: '1' },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { namespace: 'default' },
    });
    expect(created.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.json.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const rv1 = created.json.metadata.resourceVersion;
    expect(Number(rv1)).toBe(sim.resourceVersion);

    const dup = await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'crud' } });
    expect(dup.status).toBe(409);
    expect(dup.json).toMatchObject({
      reason: 'AlreadyExists',
      details: { name: 'crud', kind: 'configmaps' },
    });

    const updated = await req('PUT', '/api/v1/namespaces/default/configmaps/crud', {
      ...created.json,
      data: { a: '2' },
    });
    expect(updated.status).toBe(200);
    expect(Number(updated.json.metadata.resourceVersion)).toBeGreaterThan(Number(rv1));
    expect(updated.json.metadata.uid).toBe(created.json.metadata.uid);

    const stale = await req('PUT', '/api/v1/namespaces/default/configmaps/crud', {
      ...created.json,
      data: { a: '3' },
    });
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe('Conflict');
    expect(stale.json.message).toContain('the object has been modified');

    // A no-op update does not make a new revision.
    const before = sim.resourceVersion;
    const same = await req('PUT', '/api/v1/namespaces/default/configmaps/crud', updated.json);
    expect(same.json.metadata.resourceVersion).toBe(updated.json.metadata.resourceVersion);
    expect(sim.resourceVersion).toBe(before);

    const del = await req('DELETE', '/api/v1/namespaces/default/configmaps/crud');
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ a: '2' });
    const gone = await req('GET', '/api/v1/namespaces/default/configmaps/crud');
    expect(gone.status).toBe(404);
    expect(gone.json).toMatchObject({
      kind: 'Status',
      reason: 'NotFound',
      message: 'configmaps "crud" not found',
    });
  });

  it('rejects bad input with the right Status codes', async () => {
    expect(
      (await req('POST', '/api/v1/namespaces/nowhere/configmaps', { metadata: { name: 'x' } })).status,
    ).toBe(404);
    expect(
      (await req('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'Bad_Name' } })).status,
    ).toBe(422);
    expect((await req('POST', '/api/v1/namespaces/default/configmaps', '{not json')).status).toBe(400);
    expect((await req('GET', '/api/v1/widgets')).status).toBe(404);
    expect((await req('GET', '/api/v1/pods?labelSelector=a%20in%20(')).status).toBe(400);
    const field = await req('GET', '/api/v1/pods?fieldSelector=spec.bogus%3Dx');
    expect(field.status).toBe(400);
    expect(field.json.message).toBe('field label not supported: spec.bogus');
    const big = { metadata: { name: 'big' }, data: { blob: 'x'.repeat(3 * 1024 * 1024 + 10) } };
    const tooLarge = await req('POST', '/api/v1/namespaces/default/configmaps', big);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.reason).toBe('RequestEntityTooLarge');
    const proto = await req('GET', '/api/v1/pods', undefined, {
      Accept: 'application/vnd.kubernetes.protobuf',
    });
    expect(proto.status).toBe(406);
  });

  it('applies merge, strategic merge and JSON patches; status updates touch only status', async () => {
    sim.create('nodes', {
      metadata: { name: 'patch-node', labels: { a: '1' } },
      spec: { podCIDR: '10.0.0.0/24' },
      status: {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'Starting' },
          { type: 'MemoryPressure', status: 'False' },
        ],
        addresses: [{ type: 'InternalIP', address: '10.1.1.1' }],
      },
    });
    // kubelet's node status patch: conditions merged by type, with $setElementOrder.
    const smp = await req(
      'PATCH',
      '/api/v1/nodes/patch-node/status',
      {
        status: {
          '$setElementOrder/conditions': [{ type: 'MemoryPressure' }, { type: 'Ready' }],
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
          addresses: [{ type: 'Hostname', address: 'patch-node' }],
        },
        spec: { podCIDR: 'ignored-on-status' },
      },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    expect(smp.status).toBe(200);
    expect(smp.json.status.conditions).toEqual([
      { type: 'MemoryPressure', status: 'False' },
      { type: 'Ready', status: 'True', reason: 'KubeletReady' },
    ]);
    expect(smp.json.status.addresses).toHaveLength(2);
    expect(smp.json.spec.podCIDR).toBe('10.0.0.0/24');

    const merge = await req(
      'PATCH',
      '/api/v1/nodes/patch-node',
      { metadata: { labels: { a: null, b: '2' } }, status: { conditions: [] } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(merge.json.metadata.labels).toEqual({ b: '2' });
    expect(merge.json.status.conditions).toHaveLength(2); // status is not writable on the main resource

    const json = await req(
      'PATCH',
      '/api/v1/nodes/patch-node',
      [
        { op: 'test', path: '/metadata/labels/b', value: '2' },
        { op: 'add', path: '/spec/taints', value: [{ key: 'k', effect: 'NoSchedule' }] },
      ],
      { 'Content-Type': 'application/json-patch+json' },
    );
    expect(json.json.spec.taints).toEqual([{ key: 'k', effect: 'NoSchedule' }]);
    const failed = await req(
      'PATCH',
      '/api/v1/nodes/patch-node',
      [{ op: 'test', path: '/metadata/labels/b', value: 'x' }],
      {
        'Content-Type': 'application/json-patch+json',
      },
    );
    expect(failed.status).toBe(422);

    const stale = await req(
      'PATCH',
      '/api/v1/nodes/patch-node',
      { metadata: { resourceVersion: '1' } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(stale.status).toBe(409);
  });

  it('sets pod defaults and generation, and bumps generation only on spec changes', async () => {
    const p = await req('POST', '/api/v1/namespaces/default/pods', {
      ...pod('gen'),
      status: { phase: 'Running' },
    });
    expect(p.json.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
    expect(p.json.metadata.generation).toBe(1);
    expect(p.json.spec.restartPolicy).toBe('Always');
    const labelled = await req(
      'PATCH',
      '/api/v1/namespaces/default/pods/gen',
      { metadata: { labels: { x: 'y' } } },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    );
    expect(labelled.json.metadata.generation).toBe(1);
    const respec = await req(
      'PATCH',
      '/api/v1/namespaces/default/pods/gen',
      { spec: { activeDeadlineSeconds: 5 } },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    );
    expect(respec.json.metadata.generation).toBe(2);
    await req('DELETE', '/api/v1/namespaces/default/pods/gen');
  });
});

describe('LIST', () => {
  beforeAll(() => {
    for (let i = 0; i < 7; i++) {
      sim.create(
        'pods',
        pod(
          `list-${i}`,
          { app: i % 2 ? 'odd' : 'even', tier: `t${i}` },
          i < 3 ? 'node-a' : 'node-b',
          'listing',
        ),
      );
    }
  });

  it('pages with limit/continue at one consistent revision', async () => {
    const first = await req('GET', '/api/v1/namespaces/listing/pods?limit=3');
    expect(first.json.kind).toBe('PodList');
    expect(first.json.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual([
      'list-0',
      'list-1',
      'list-2',
    ]);
    expect(first.json.items[0].kind).toBeUndefined(); // typed lists carry no per-item TypeMeta
    expect(first.json.metadata.remainingItemCount).toBe(4);
    const rv = first.json.metadata.resourceVersion;
    // A change after the first page is not seen by the rest of the list.
    sim.create('pods', pod('list-00', {}, 'node-a', 'listing'));
    const second = await req(
      'GET',
      `/api/v1/namespaces/listing/pods?limit=3&continue=${first.json.metadata.continue}`,
    );
    expect(second.json.metadata.resourceVersion).toBe(rv);
    expect(second.json.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual([
      'list-3',
      'list-4',
      'list-5',
    ]);
    const third = await req(
      'GET',
      `/api/v1/namespaces/listing/pods?limit=3&continue=${second.json.metadata.continue}`,
    );
    expect(third.json.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['list-6']);
    expect(third.json.metadata.continue).toBeUndefined();
    sim.delete('pods', 'list-00', { namespace: 'listing' });

    const again = await req('GET', '/api/v1/namespaces/listing/pods?limit=2');
    sim.create('configmaps', { metadata: { name: 'bump', namespace: 'listing' } });
    sim.compact();
    const expired = await req(
      'GET',
      `/api/v1/namespaces/listing/pods?limit=2&continue=${again.json.metadata.continue}`,
    );
    expect(expired.status).toBe(410);
    expect(expired.json).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
  });

  it('filters with label and field selectors', async () => {
    const names = async (q: string) =>
      (await req('GET', `/api/v1/namespaces/listing/pods?${q}`)).json.items.map(
        (p: { metadata: { name: string } }) => p.metadata.name,
      );
    expect(await names('labelSelector=app%3Dodd')).toEqual(['list-1', 'list-3', 'list-5']);
    expect(await names('labelSelector=app!%3Dodd,tier%20in%20(t0,t2,t3)')).toEqual(['list-0', 'list-2']);
    expect(await names('labelSelector=tier%20notin%20(t0,t1,t2,t3,t4)')).toEqual(['list-5', 'list-6']);
    expect(await names('labelSelector=!app')).toEqual([]);
    expect(await names('labelSelector=app')).toHaveLength(7);
    expect(await names('fieldSelector=spec.nodeName%3Dnode-a')).toEqual(['list-0', 'list-1', 'list-2']);
    expect(await names('fieldSelector=spec.nodeName!%3Dnode-a,metadata.name%3D%3Dlist-6')).toEqual([
      'list-6',
    ]);
    expect(await names('fieldSelector=status.phase%3DPending&labelSelector=app%3D%3Deven')).toEqual([
      'list-0',
      'list-2',
      'list-4',
      'list-6',
    ]);
    const all = await req('GET', '/api/v1/pods?fieldSelector=metadata.namespace%3Dlisting');
    expect(all.json.items).toHaveLength(7);
  });

  it('honours resourceVersion semantics: exact reads, too old, too new, and RV=0 ignoring limit', async () => {
    const cm = sim.create('configmaps', {
      metadata: { name: 'rv-cm', namespace: 'listing' },
      data: { v: '1' },
    });
    const rvAt = Number(cm.metadata.resourceVersion);
    sim.patch('configmaps', 'rv-cm', { data: { v: '2' } }, { namespace: 'listing' });
    const exact = await req(
      'GET',
      `/api/v1/namespaces/listing/configmaps?resourceVersion=${rvAt}&resourceVersionMatch=Exact`,
    );
    expect(exact.json.metadata.resourceVersion).toBe(String(rvAt));
    expect(
      exact.json.items.find((c: { metadata: { name: string } }) => c.metadata.name === 'rv-cm').data,
    ).toEqual({ v: '1' });
    const notOlder = await req(
      'GET',
      `/api/v1/namespaces/listing/configmaps?resourceVersion=${rvAt}&resourceVersionMatch=NotOlderThan`,
    );
    expect(notOlder.json.metadata.resourceVersion).toBe(String(sim.resourceVersion));
    sim.compact();
    const old = await req(
      'GET',
      `/api/v1/namespaces/listing/configmaps?resourceVersion=${rvAt}&resourceVersionMatch=Exact`,
    );
    expect(old.status).toBe(410);
    expect(old.json.reason).toBe('Expired');
    const anyRv = await req('GET', '/api/v1/namespaces/listing/pods?resourceVersion=0&limit=2');
    expect(anyRv.json.items).toHaveLength(7);
    expect(anyRv.json.metadata.continue).toBeUndefined();
    const bad = await req('GET', '/api/v1/pods?resourceVersionMatch=Exact');
    expect(bad.status).toBe(400);
  });
});

describe('WATCH', () => {
  it('sends the current state for RV "" then live events, with selector transitions', async () => {
    sim.create('pods', pod('w-1', { app: 'w' }, 'node-a', 'watching'));
    const w = rawWatch(sim.url, auth, '/api/v1/namespaces/watching/pods?watch=1&labelSelector=app%3Dw');
    const first = await w.next();
    expect(first).toMatchObject({ type: 'ADDED', object: { kind: 'Pod', metadata: { name: 'w-1' } } });
    sim.create('pods', pod('w-2', { app: 'other' }, 'node-a', 'watching'));
    sim.patch('pods', 'w-2', { metadata: { labels: { app: 'w' } } }, { namespace: 'watching' });
    expect(await w.nextChange()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w-2' } } });
    sim.patch('pods', 'w-1', { metadata: { annotations: { n: '1' } } }, { namespace: 'watching' });
    expect(await w.nextChange()).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'w-1' } } });
    sim.patch('pods', 'w-1', { metadata: { labels: { app: 'gone' } } }, { namespace: 'watching' });
    expect(await w.nextChange()).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'w-1' } } });
    const deleted = sim.delete('pods', 'w-2', { namespace: 'watching' });
    const ev = await w.nextChange();
    expect(ev).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'w-2' } } });
    expect(Number(ev!.object.metadata.resourceVersion)).toBeGreaterThan(
      Number(deleted.metadata.resourceVersion),
    );
    expect(sim.watchCount({ resource: 'pods', namespace: 'watching', labelSelector: 'app=w' })).toEqual({
      opened: 1,
      open: 1,
    });
    w.close();
    await w.ended;
    await expect
      .poll(() => sim.watchCount({ resource: 'pods', namespace: 'watching' }).open, { timeout: 20_000 })
      .toBe(0);
  });

  it('resumes from a resourceVersion and answers a compacted one with a 410 ERROR event', async () => {
    const a = sim.create('configmaps', { metadata: { name: 'resume-a', namespace: 'watching' } });
    sim.create('configmaps', { metadata: { name: 'resume-b', namespace: 'watching' } });
    const w = rawWatch(
      sim.url,
      auth,
      `/api/v1/namespaces/watching/configmaps?watch=true&resourceVersion=${a.metadata.resourceVersion}`,
    );
    expect(await w.next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'resume-b' } } });
    w.close();
    sim.compact();
    const old = rawWatch(
      sim.url,
      auth,
      `/api/v1/namespaces/watching/configmaps?watch=true&resourceVersion=${a.metadata.resourceVersion}`,
    );
    const err = await old.next();
    expect(old.status).toBe(200);
    expect(err).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    expect(err!.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    expect(await old.ended).toBe('end');
  });

  it('sends bookmarks, initial-events-end, and ends at timeoutSeconds', async () => {
    const w = rawWatch(
      sim.url,
      auth,
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2',
    );
    sim.create('leases', {
      metadata: { name: 'node-a', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'node-a' },
    });
    const events = [];
    for (let ev = await w.next(); ev; ev = await w.next()) events.push(ev);
    expect(await w.ended).toBe('end');
    const initialEnd = events.findIndex(
      (e) => e.object.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true',
    );
    expect(initialEnd).toBeGreaterThanOrEqual(0);
    const bookmarks = events.filter((e) => e.type === 'BOOKMARK');
    expect(bookmarks.length).toBeGreaterThanOrEqual(2);
    expect(bookmarks[1]!.object).toEqual({
      kind: 'Lease',
      apiVersion: 'coordination.k8s.io/v1',
      metadata: { resourceVersion: String(sim.resourceVersion), creationTimestamp: null },
    });
    expect(events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'node-a')).toBe(true);
  });
});

describe('controls', () => {
  it('refuses, blackholes and heals while state stays mutable; stop/start keeps the port', async () => {
    const port = sim.port;
    await sim.partition('refuse');
    await expect(req('GET', '/readyz')).rejects.toThrow(/ECONNREFUSED/);
    sim.create('configmaps', { metadata: { name: 'while-refused' } });
    await sim.heal();
    expect(sim.port).toBe(port);
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/while-refused')).status).toBe(200);

    const w = rawWatch(
      sim.url,
      auth,
      '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=' + sim.resourceVersion,
    );
    await expect
      .poll(() => sim.watchCount({ resource: 'configmaps', namespace: 'default' }).open, { timeout: 20_000 })
      .toBe(1);
    await sim.partition('blackhole');
    let answered = false;
    const pending = req('GET', '/readyz').then(
      () => (answered = true),
      () => 'reset',
    );
    sim.create('configmaps', { metadata: { name: 'while-blackholed' } });
    expect(await w.next(500)).toBeUndefined(); // silent, not closed
    expect(answered).toBe(false);
    await sim.heal();
    expect(await pending).toBe('reset');
    expect(await w.ended).toBe('error');
    expect((await req('GET', '/api/v1/namespaces/default/configmaps/while-blackholed')).status).toBe(200);

    await sim.stop();
    await expect(req('GET', '/readyz')).rejects.toThrow();
    await sim.start();
    expect(sim.port).toBe(port);
    expect((await req('GET', '/readyz')).status).toBe(200);
  });

  it('drops watches, throttles with Retry-After, and counts lists, watches and bytes', async () => {
    sim.resetCounters();
    const w = rawWatch(sim.url, auth, '/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-a');
    await w.next();
    expect(sim.watchCount({ resource: 'pods', fieldSelector: 'spec.nodeName=node-a' })).toEqual({
      opened: 1,
      open: 1,
    });
    const nodes = rawWatch(sim.url, auth, '/api/v1/nodes?watch=1');
    await nodes.next();
    expect(sim.dropWatches({ match: { resource: 'nodes' } })).toBe(1);
    expect(await nodes.ended).toBe('error');
    expect(sim.watchCount({ resource: 'pods' }).open).toBe(1);
    expect(sim.dropWatches()).toBe(1);
    expect(await w.ended).toBe('error');
    expect(sim.watchCount({ resource: 'pods' })).toEqual({ opened: 1, open: 0 });
    const watchRecord = sim.requests.find((r) => r.verb === 'watch' && r.resource === 'pods')!;
    expect(watchRecord.accept).toBe('application/json');
    expect(watchRecord.query).toMatchObject({ watch: '1', fieldSelector: 'spec.nodeName=node-a' });

    sim.throttle(2, 7, { resource: 'pods' });
    const t1 = await req('GET', '/api/v1/pods');
    expect(t1.status).toBe(429);
    expect(t1.headers['retry-after']).toBe('7');
    expect(t1.json).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 7 } });
    expect((await req('GET', '/api/v1/nodes')).status).toBe(200);
    expect((await req('GET', '/api/v1/pods')).status).toBe(429);
    const ok = await req('GET', '/api/v1/pods');
    expect(ok.status).toBe(200);
    expect(sim.listCount({ resource: 'pods' })).toBe(3);
    expect(sim.listCount({ resource: 'pods', namespace: 'listing' })).toBe(0);
    expect(sim.listCount({ resource: 'nodes' })).toBe(1);
    expect(sim.bytesSent({ resource: 'pods', verb: 'list' })).toBeGreaterThanOrEqual(ok.body.length);
    expect(sim.bytesSent()).toBeGreaterThan(sim.bytesSent({ resource: 'pods', verb: 'list' }));

    sim.setLatency(50);
    expect((await req('GET', '/api/v1/nodes')).status).toBe(200);
    sim.setLatency(0);
  });
});

describe('registry semantics', () => {
  it('keeps objects with finalizers until the finalizers are removed', async () => {
    sim.create('configmaps', {
      metadata: { name: 'fin', namespace: 'reg', finalizers: ['example.com/hold'] },
    });
    const w = rawWatch(
      sim.url,
      auth,
      `/api/v1/namespaces/reg/configmaps?watch=1&resourceVersion=${sim.resourceVersion}`,
    );
    const del = await req('DELETE', '/api/v1/namespaces/reg/configmaps/fin');
    expect(del.status).toBe(200);
    expect(del.json.metadata.deletionTimestamp).toBeDefined();
    expect(sim.get('configmaps', 'fin', 'reg')).toBeDefined();
    expect(await w.nextChange()).toMatchObject({ type: 'MODIFIED' });
    const cur = sim.get('configmaps', 'fin', 'reg')!;
    const cleared = await req('PUT', '/api/v1/namespaces/reg/configmaps/fin', {
      ...cur,
      metadata: { ...cur.metadata, finalizers: [] },
    });
    expect(cleared.status).toBe(200);
    expect(await w.nextChange()).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'fin' } } });
    expect(sim.get('configmaps', 'fin', 'reg')).toBeUndefined();
    w.close();
  });

  it('checks delete preconditions, supports dryRun and deletecollection', async () => {
    const cm = sim.create('configmaps', {
      metadata: { name: 'pre', namespace: 'reg', labels: { group: 'g' } },
    });
    sim.create('configmaps', { metadata: { name: 'pre-2', namespace: 'reg', labels: { group: 'g' } } });
    const wrongUid = await req('DELETE', '/api/v1/namespaces/reg/configmaps/pre', {
      preconditions: { uid: 'nope' },
    });
    expect(wrongUid.status).toBe(409);
    const dry = await req('DELETE', '/api/v1/namespaces/reg/configmaps/pre?dryRun=All');
    expect(dry.status).toBe(200);
    expect(sim.get('configmaps', 'pre', 'reg')).toBeDefined();
    const dryCreate = await req('POST', '/api/v1/namespaces/reg/configmaps?dryRun=All', {
      metadata: { name: 'dry' },
    });
    expect(dryCreate.status).toBe(201);
    expect(sim.get('configmaps', 'dry', 'reg')).toBeUndefined();
    const ok = await req('DELETE', '/api/v1/namespaces/reg/configmaps/pre', {
      preconditions: { uid: cm.metadata.uid, resourceVersion: cm.metadata.resourceVersion },
    });
    expect(ok.status).toBe(200);
    const coll = await req('DELETE', '/api/v1/namespaces/reg/configmaps?labelSelector=group%3Dg');
    expect(coll.json.kind).toBe('ConfigMapList');
    expect(coll.json.items.map((c: { metadata: { name: string } }) => c.metadata.name)).toEqual(['pre-2']);
    expect(sim.list('configmaps', { namespace: 'reg', labelSelector: 'group=g' }).items).toEqual([]);
  });

  it('deletes a namespace with its contents, and refuses writes into a missing one', async () => {
    sim.create('secrets', { metadata: { name: 's', namespace: 'doomed' }, data: {} });
    const w = rawWatch(sim.url, auth, `/api/v1/secrets?watch=1&resourceVersion=${sim.resourceVersion}`);
    const del = await req('DELETE', '/api/v1/namespaces/doomed');
    expect(del.json.status.phase).toBe('Terminating');
    expect(await w.nextChange()).toMatchObject({
      type: 'DELETED',
      object: { metadata: { name: 's', namespace: 'doomed' } },
    });
    expect((await req('GET', '/api/v1/namespaces/doomed')).status).toBe(404);
    const refused = await req('POST', '/api/v1/namespaces/doomed/secrets', { metadata: { name: 't' } });
    expect(refused.status).toBe(404);
    expect(refused.json.message).toBe('namespaces "doomed" not found');
    const protectedNs = await req('DELETE', '/api/v1/namespaces/kube-system');
    expect(protectedNs.status).toBe(403);
    expect(protectedNs.json.message).toBe(
      'namespaces "kube-system" is forbidden: this namespace may not be deleted',
    );
    w.close();
  });

  it('creates leases and endpoints on PUT, but not pods', async () => {
    const lease = await req('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-z', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-z', namespace: 'kube-node-lease' },
      spec: { holderIdentity: 'node-z', leaseDurationSeconds: 40 },
    });
    expect(lease.status).toBe(201);
    const podPut = await req('PUT', '/api/v1/namespaces/default/pods/not-there', pod('not-there'));
    expect(podPut.status).toBe(404);
    const mismatch = await req('PUT', '/api/v1/namespaces/default/configmaps/x', { metadata: { name: 'y' } });
    expect(mismatch.status).toBe(400);
  });

  it('assigns service cluster IPs and namespaces the default fields', async () => {
    const svc = await req('POST', '/api/v1/namespaces/default/services', {
      metadata: { name: 'svc' },
      spec: { selector: { app: 'a' }, ports: [{ port: 80 }] },
    });
    expect(svc.json.spec.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(svc.json.spec.ports[0]).toEqual({ port: 80, protocol: 'TCP', targetPort: 80 });
    const ns = await req('POST', '/api/v1/namespaces', { metadata: { name: 'fresh' } });
    expect(ns.json.status.phase).toBe('Active');
    expect(ns.json.metadata.labels['kubernetes.io/metadata.name']).toBe('fresh');
  });
});

describe('options', () => {
  it('deletes node-bound pods gracefully when podGracefulDeletion is set, and compacts by historyLimit', async () => {
    const s = await startSimulator({ tls: false, podGracefulDeletion: true, historyLimit: 5 });
    try {
      const plain: ClientAuth = {};
      s.create('pods', pod('bound'));
      const first = await rawRequest(s.url, plain, 'DELETE', '/api/v1/namespaces/default/pods/bound');
      expect(first.json.metadata.deletionGracePeriodSeconds).toBe(30);
      expect(s.get('pods', 'bound')).toBeDefined();
      const final = await rawRequest(s.url, plain, 'DELETE', '/api/v1/namespaces/default/pods/bound', {
        gracePeriodSeconds: 0,
      });
      expect(final.status).toBe(200);
      expect(s.get('pods', 'bound')).toBeUndefined();
      for (let i = 0; i < 10; i++) s.create('configmaps', { metadata: { name: `h${i}` } });
      expect(s.compactedResourceVersion).toBe(s.resourceVersion - 5);
      const old = await rawRequest(
        s.url,
        plain,
        'GET',
        `/api/v1/configmaps?watch=1&resourceVersion=${s.resourceVersion - 6}`,
      );
      expect(JSON.parse(old.body.toString().trim())).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    } finally {
      await s.close();
    }
  });
});

describe('representations and policies', () => {
  it('serves Tables and PartialObjectMetadata when the Accept header asks for them', async () => {
    sim.create('pods', {
      ...pod('tbl', { app: 'tbl' }, 'node-a', 'tables'),
      status: {
        phase: 'Running',
        podIP: '10.0.0.9',
        containerStatuses: [{ name: 'c', ready: true, restartCount: 2 }],
      },
    } as never);
    const table = await req('GET', '/api/v1/namespaces/tables/pods', undefined, {
      Accept:
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    });
    expect(table.headers['content-type']).toBe('application/json;as=Table;v=v1;g=meta.k8s.io');
    expect(table.json.kind).toBe('Table');
    expect(table.json.columnDefinitions.map((c: { name: string }) => c.name).slice(0, 5)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
    ]);
    expect(table.json.rows[0].cells.slice(0, 4)).toEqual(['tbl', '1/1', 'Running', '2']);
    expect(table.json.rows[0].cells[5]).toBe('10.0.0.9');
    expect(table.json.rows[0].object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: 'tbl' },
    });
    const full = await req('GET', '/api/v1/namespaces/tables/pods/tbl?includeObject=Object', undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    expect(full.json.rows[0].object).toMatchObject({ kind: 'Pod', spec: { nodeName: 'node-a' } });
    const meta = await req('GET', '/api/v1/namespaces/tables/pods', undefined, {
      Accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
    });
    expect(meta.json.kind).toBe('PartialObjectMetadataList');
    expect(meta.json.items[0]).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: sim.get('pods', 'tbl', 'tables')!.metadata,
    });
    const w = rawWatch(sim.url, auth, '/api/v1/namespaces/tables/pods?watch=1');
    // rawWatch asks for plain JSON: objects stay objects.
    expect((await w.next())!.object.kind).toBe('Pod');
    w.close();
    const unknown = await req('GET', '/api/v1/pods', undefined, {
      Accept: 'application/json;as=Widget;v=v1;g=example.com',
    });
    expect(unknown.status).toBe(406);
  });

  it('gzips large responses for clients that accept gzip, and counts the bytes sent', async () => {
    for (let i = 0; i < 300; i++) {
      sim.create('configmaps', {
        metadata: { name: `big-${i}`, namespace: 'gz' },
        data: { v: 'x'.repeat(500) },
      });
    }
    sim.resetCounters();
    const plain = await req('GET', '/api/v1/namespaces/gz/configmaps');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.json.items).toHaveLength(300);
    const zipped = await req('GET', '/api/v1/namespaces/gz/configmaps', undefined, {
      'Accept-Encoding': 'gzip',
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const { gunzipSync } = await import('node:zlib');
    expect(JSON.parse(gunzipSync(zipped.body).toString()).items).toHaveLength(300);
    expect(zipped.body.length).toBeLessThan(plain.body.length);
    expect(sim.bytesSent({ resource: 'configmaps', namespace: 'gz' })).toBe(
      plain.body.length + zipped.body.length,
    );
    const small = await req('GET', '/api/v1/namespaces/gz/configmaps/big-1', undefined, {
      'Accept-Encoding': 'gzip',
    });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers['audit-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 403 Forbidden for denied requests until the denial is lifted', async () => {
    const lift = sim.deny({ user: 'system:node:node-a', resource: 'secrets', verb: 'list' });
    const denied = await req('GET', '/api/v1/namespaces/default/secrets');
    expect(denied.status).toBe(403);
    expect(denied.json).toMatchObject({ reason: 'Forbidden', code: 403 });
    expect(denied.json.message).toBe(
      'secrets is forbidden: User "system:node:node-a" cannot list resource "secrets" in API group "" in the namespace "default"',
    );
    expect(
      (
        await rawRequest(
          sim.url,
          { ca: sim.caPem, token: 'tok-1' },
          'GET',
          '/api/v1/namespaces/default/secrets',
        )
      ).status,
    ).toBe(200);
    lift();
    expect((await req('GET', '/api/v1/namespaces/default/secrets')).status).toBe(200);
  });
});

describe('garbage collection', () => {
  it('deletes dependents in the background, or orphans them, by ownerReferences', async () => {
    const owner = sim.create('configmaps', { metadata: { name: 'owner', namespace: 'gc' } });
    const ref = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }];
    sim.create('configmaps', { metadata: { name: 'dep', namespace: 'gc', ownerReferences: ref } });
    sim.create('secrets', { metadata: { name: 'dep-secret', namespace: 'gc', ownerReferences: ref } });
    expect((await req('DELETE', '/api/v1/namespaces/gc/configmaps/owner')).status).toBe(200);
    expect(sim.get('configmaps', 'dep', 'gc')).toBeUndefined();
    expect(sim.get('secrets', 'dep-secret', 'gc')).toBeUndefined();

    const owner2 = sim.create('configmaps', { metadata: { name: 'owner2', namespace: 'gc' } });
    sim.create('configmaps', {
      metadata: {
        name: 'dep2',
        namespace: 'gc',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner2', uid: owner2.metadata.uid }],
      },
    });
    await req('DELETE', '/api/v1/namespaces/gc/configmaps/owner2', { propagationPolicy: 'Orphan' });
    const orphan = sim.get('configmaps', 'dep2', 'gc')!;
    expect(orphan.metadata.ownerReferences).toBeUndefined();
    expect(
      (await req('DELETE', '/api/v1/namespaces/gc/configmaps/dep2', { propagationPolicy: 'Sideways' }))
        .status,
    ).toBe(400);
  });
});

describe('replicas', () => {
  it('serves one cluster from two endpoints with their own network controls and counters', async () => {
    const replica = await sim.replica();
    try {
      expect(replica.port).not.toBe(sim.port);
      const viaReplica = (method: string, path: string, body?: unknown) =>
        rawRequest(replica.url, auth, method, path, body);
      const created = await req('POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { name: 'ha' },
      });
      const read = await viaReplica('GET', '/api/v1/namespaces/default/configmaps/ha');
      expect(read.json.metadata.resourceVersion).toBe(created.json.metadata.resourceVersion);
      const w = rawWatch(
        replica.url,
        auth,
        `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${sim.resourceVersion}`,
      );
      await expect
        .poll(() => replica.watchCount({ resource: 'configmaps' }).open, { timeout: 20_000 })
        .toBe(1);
      expect(sim.watchCount({ resource: 'configmaps', namespace: 'default' }).open).toBe(0);
      await sim.partition('refuse');
      sim.patch('configmaps', 'ha', { data: { via: 'store' } });
      expect(await w.nextChange()).toMatchObject({ type: 'MODIFIED', object: { data: { via: 'store' } } });
      expect((await viaReplica('GET', '/readyz')).status).toBe(200);
      await sim.heal();
      w.close();
    } finally {
      await replica.close();
    }
  });
});
