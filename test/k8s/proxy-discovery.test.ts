/**
 * Discovery, OpenAPI and custom resources through `dist/islet proxy` against the real
 * kube-apiserver: what a node's clients fetched online is answered offline as recorded (same bytes,
 * same Content-Type, ETag), from disk, after the proxy restarted with the link down.
 */
import { beforeAll, expect, it } from 'vitest';
import { httpJson, Kubectl, tempDir } from '../proxy/harness.js';
import { rawWatch } from '../sim/client.js';
import { describeOnControlPlane, proxyOnControlPlane } from './suite.js';
import { widgetsCrd } from './widgets.js';

const AGGREGATED = (v: string) => `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
/** What kubectl 1.35 sends for /api and /apis. */
const KUBECTL_DISCOVERY_ACCEPT = `${AGGREGATED('v2')},${AGGREGATED('v2beta1')},application/json`;

describeOnControlPlane('discovery, OpenAPI and CRDs offline through the proxy (real API server)', () => {
  const rig = proxyOnControlPlane({ prefix: 'islet-discovery-' });
  const ns = `disc-${process.pid}`;
  /** A kubectl with its own empty --cache-dir and HOME: it knows nothing but what it fetches. */
  const freshKubectl = (server: string) => new Kubectl(tempDir('islet-kubectl-').dir, server);
  const get = (path: string, accept: string, extra: Record<string, string> = {}) =>
    fetch(`${rig.proxy.url}${path}`, { headers: { accept, ...extra } });

  beforeAll(async () => {
    await rig.cp.ensureNamespace(ns);
    await rig.cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1', namespace: ns },
      spec: { nodeName: rig.cp.nodeName, containers: [{ name: 'c', image: 'registry.invalid/none:1' }] },
    });
  });

  it('answers discovery and OpenAPI offline after a restart as the API server answered them online', async () => {
    await rig.restartProxy('online');
    const online = freshKubectl(rig.proxy.url);
    // What a node's kubectl does online: discovery, explain (OpenAPI v3), its pods as JSON.
    expect((await online.run(['api-resources'])).code).toBe(0);
    expect((await online.run(['explain', 'pods.spec'])).code).toBe(0);
    await online.json(['get', 'pods', '--field-selector', `spec.nodeName=${rig.cp.nodeName}`, '-A']);
    // Direct reads too, recorded as the server gave them (also legacy and v2beta1 discovery).
    const paths: [string, string][] = [
      ['/api', AGGREGATED('v2')],
      ['/apis', AGGREGATED('v2')],
      ['/api', KUBECTL_DISCOVERY_ACCEPT],
      ['/apis', KUBECTL_DISCOVERY_ACCEPT],
      ['/api', 'application/json'],
      ['/apis', 'application/json'],
      ['/api/v1', 'application/json'],
      ['/apis/apps/v1', 'application/json'],
      ['/openapi/v2', 'application/json'],
      ['/openapi/v3', 'application/json'],
    ];
    const recorded = new Map<string, { type: string; etag: string; body: Buffer }>();
    for (const [path, accept] of paths) {
      const r = await get(path, accept);
      expect(r.status, `${path} ${accept}`).toBe(200);
      recorded.set(`${path} ${accept}`, {
        type: r.headers.get('content-type') ?? '',
        etag: r.headers.get('etag') ?? '',
        body: Buffer.from(await r.arrayBuffer()),
      });
    }
    expect(recorded.get(`/apis ${AGGREGATED('v2')}`)?.type).toBe(AGGREGATED('v2'));
    expect(recorded.get(`/apis ${KUBECTL_DISCOVERY_ACCEPT}`)?.type).toBe(AGGREGATED('v2'));
    // 1.35 no longer serves v2beta1: a client asking for it alone is refused, through the proxy too.
    for (const path of ['/api', '/apis']) {
      const beta = await get(path, AGGREGATED('v2beta1'));
      expect(beta.status).toBe(406);
      expect(
        (await rig.cp.admin.request('GET', path, undefined, { Accept: AGGREGATED('v2beta1') })).status,
      ).toBe(406);
    }
    const v3 = JSON.parse(recorded.get('/openapi/v3 application/json')!.body.toString()) as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const podsDoc = v3.paths['api/v1']!.serverRelativeURL;
    expect(podsDoc).toMatch(/^\/openapi\/v3\/api\/v1\?hash=/);
    const doc = await get(podsDoc, 'application/json');
    expect(doc.status).toBe(200);
    recorded.set(`${podsDoc} application/json`, {
      type: doc.headers.get('content-type') ?? '',
      etag: doc.headers.get('etag') ?? '',
      body: Buffer.from(await doc.arrayBuffer()),
    });

    await rig.restartProxy('offline');
    for (const [k, want] of recorded) {
      const sp = k.indexOf(' ');
      const [path, accept] = [k.slice(0, sp), k.slice(sp + 1)];
      const r = await get(path, accept);
      expect(r.status, k).toBe(200);
      expect(r.headers.get('content-type'), k).toBe(want.type);
      expect(r.headers.get('etag') ?? '', k).toBe(want.etag);
      expect(Buffer.from(await r.arrayBuffer()).equals(want.body), `${k}: same bytes`).toBe(true);
      if (want.etag) {
        const again = await get(path, accept, { 'if-none-match': want.etag });
        expect(again.status, `${k} If-None-Match`).toBe(304);
      }
    }
    // The request timeout a client adds is not part of what it asks for.
    const timed = await get('/apis?timeout=7s', AGGREGATED('v2'));
    expect(timed.status).toBe(200);
    expect(
      Buffer.from(await timed.arrayBuffer()).equals(recorded.get(`/apis ${AGGREGATED('v2')}`)!.body),
    ).toBe(true);

    const offline = freshKubectl(rig.proxy.url);
    const pods = await offline.run([
      'get',
      'pods',
      '--field-selector',
      `spec.nodeName=${rig.cp.nodeName}`,
      '-A',
    ]);
    expect(pods.stderr).toBe('');
    expect(pods.stdout).toContain('p1');
    const resources = await offline.run(['api-resources']);
    expect(resources.code, resources.stderr).toBe(0);
    expect(resources.stdout).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
    const explain = await offline.run(['explain', 'pods.spec']);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain('FIELD: spec <PodSpec>');
    expect(explain.stdout).toContain('containers');
  });

  it('serves a CRD created on the API server from the cache after an offline restart', async () => {
    await rig.restartProxy('online');
    await rig.cp.admin.ok(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      widgetsCrd({
        type: 'object',
        properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
      }),
    );
    // The Node authorizer knows nothing of custom resources: RBAC grants the node its widgets.
    await rig.cp.admin.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'islet-test-widgets' },
      rules: [{ apiGroups: ['islet.test'], resources: ['widgets'], verbs: ['get', 'list', 'watch'] }],
    });
    await rig.cp.admin.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'islet-test-widgets' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'islet-test-widgets' },
      subjects: [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `system:node:${rig.cp.nodeName}` },
      ],
    });
    const base = `/apis/islet.test/v1/namespaces/${ns}/widgets`;
    // The CRD's endpoint answers once its controller established it.
    for (let i = 0; ; i++) {
      const r = await rig.cp.admin.request('POST', base, {
        apiVersion: 'islet.test/v1',
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { size: 3 },
      });
      if (r.status === 201) break;
      if (i > 100) throw new Error(`create widget: ${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const online = freshKubectl(rig.proxy.url);
    // kubectl finds widgets through (aggregated) discovery, then reads them as JSON.
    const listed = await online.json<{ kind: string; items: { metadata: { name: string } }[] }>([
      'get',
      'widgets',
      '-n',
      ns,
    ]);
    expect(listed.items.map((w) => w.metadata.name)).toEqual(['w1']);
    const one = await httpJson(`${rig.proxy.url}${base}/w1`);
    expect(one.status).toBe(200);
    const list = await httpJson(`${rig.proxy.url}${base}`);
    expect(list.status).toBe(200);
    expect((list.body as { kind: string }).kind).toBe('WidgetList');

    await rig.restartProxy('offline');
    const got = await httpJson(`${rig.proxy.url}${base}/w1`);
    expect(got.status, got.text).toBe(200);
    expect(got.body).toMatchObject({ kind: 'Widget', apiVersion: 'islet.test/v1', spec: { size: 3 } });
    const offList = await httpJson(`${rig.proxy.url}${base}`);
    expect(offList.status, offList.text).toBe(200);
    expect(offList.body).toMatchObject({ kind: 'WidgetList', apiVersion: 'islet.test/v1' });
    expect(
      (offList.body as { items: { metadata: { name: string } }[] }).items.map((w) => w.metadata.name),
    ).toEqual(['w1']);
    // A WatchList of widgets offline: the cached widget, then the bookmark shaped as the API
    // server shapes a custom resource's (unstructured: apiVersion, kind, metadata).
    const w = rawWatch(
      rig.proxy.url,
      {},
      `${base}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
    );
    const added = await w.next(20_000);
    const bookmark = await w.next(20_000);
    w.close();
    expect(added?.type).toBe('ADDED');
    expect(added?.object.metadata.name).toBe('w1');
    expect(bookmark?.type).toBe('BOOKMARK');
    expect(Object.keys(bookmark?.object ?? {})).toEqual(['apiVersion', 'kind', 'metadata']);
    expect(bookmark?.object).toMatchObject({
      apiVersion: 'islet.test/v1',
      kind: 'Widget',
      metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
    const kubectl = freshKubectl(rig.proxy.url);
    const table = await kubectl.run(['get', 'widgets', '-n', ns]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('w1');
  });
});
