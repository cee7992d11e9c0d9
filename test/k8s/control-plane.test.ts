/**
 * The real control plane the proxy suites run against: pinned versions, the node authorizer's
 * refusals a real node sees, the relay that cuts the link, and etcd compaction producing real 410s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rawRequest } from '../sim/client.js';
import { type ControlPlane, startControlPlane } from './control-plane.js';
import { describeOnControlPlane } from './suite.js';

describeOnControlPlane('real control plane (etcd + kube-apiserver from the pinned build)', () => {
  let cp: ControlPlane;
  const node = () => ({ ca: cp.pki.caPem, cert: cp.nodeCert });

  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('reports the pinned Kubernetes version', async () => {
    const v = await cp.admin.ok('GET', '/version');
    expect(v.gitVersion).toBe('v1.35.4');
  });

  it('refuses the node an unselected pod LIST and allows its own pods', async () => {
    const all = await rawRequest(cp.url, node(), 'GET', '/api/v1/pods');
    expect(all.status).toBe(403);
    const own = await rawRequest(
      cp.url,
      node(),
      'GET',
      `/api/v1/pods?fieldSelector=spec.nodeName%3D${cp.nodeName}`,
    );
    expect(own.status).toBe(200);
    expect(own.json.kind).toBe('PodList');
    const secret = await rawRequest(cp.url, node(), 'GET', '/api/v1/namespaces/default/secrets/nope');
    expect(secret.status).toBe(403);
  });

  it('cuts and restores the link through the relay', async () => {
    await cp.partition('refuse');
    await expect(rawRequest(cp.url, node(), 'GET', '/version')).rejects.toThrow();
    await cp.heal();
    const v = await rawRequest(cp.url, node(), 'GET', '/version');
    expect(v.status).toBe(200);
  });

  it('counts requests by verb and resource from its own metrics', async () => {
    const before = await cp.requestCounts();
    await cp.admin.ok('GET', '/api/v1/namespaces/default/configmaps');
    const after = await cp.requestCounts();
    expect((after.get('LIST configmaps') ?? 0) - (before.get('LIST configmaps') ?? 0)).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('answers 410 for a resourceVersion compacted away in etcd (watch cache off)', async () => {
    // With the watch cache on, 1.35 serves old revisions from its own snapshots and window, so a
    // compaction in etcd alone never shows; tests that need real 410s turn the cache off.
    const cp = await startControlPlane({ apiserverArgs: ['--watch-cache=false'] });
    try {
      const ns = `cp-${process.pid}`;
      await cp.ensureNamespace(ns);
      const cm = await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'a' },
      });
      for (let i = 0; i < 3; i++) {
        await cp.admin.ok('PUT', `/api/v1/namespaces/${ns}/configmaps/a`, {
          ...(await cp.admin.ok('GET', `/api/v1/namespaces/${ns}/configmaps/a`)),
          data: { i: String(i) },
        });
      }
      await cp.compact();
      // An exact-revision list below the compaction point is read from etcd itself.
      const r = await cp.admin.request(
        'GET',
        `/api/v1/namespaces/${ns}/configmaps?resourceVersion=${cm.metadata.resourceVersion}&resourceVersionMatch=Exact`,
      );
      expect(r.status).toBe(410);
      expect(r.json.reason).toBe('Expired');
      const w = await cp.admin.request(
        'GET',
        `/api/v1/namespaces/${ns}/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${cm.metadata.resourceVersion}`,
      );
      expect(w.status).toBe(200);
      expect(w.body.toString()).toContain('"code":410');
    } finally {
      await cp.close();
    }
  });
});
