/**
 * The writes kubelet makes at start, through `dist/islet proxy` against the real kube-apiserver,
 * sent as kubelet sends them (Accept `protobuf,json`, protobuf bodies): what kubelet creates
 * online (its Node, CSINode, node Lease) is answered from the cache after an offline restart, and
 * registering the Node again offline gets the API server's 409 AlreadyExists. The real server
 * answers such a client in protobuf, which the cache cannot hold: the proxy must ask it for JSON.
 */
import { expect, it } from 'vitest';
import { eventually } from '../proxy/harness.js';
import { type RawResponse, rawRequest, rawWatch } from '../sim/client.js';
import { encodeMetadataOnly } from '../writes/k8s-protobuf.js';
import { describeOnControlPlane, proxyOnControlPlane } from './suite.js';

/** What client-go sends with kubelet's default --kube-api-content-type. */
const KUBELET_ACCEPT = 'application/vnd.kubernetes.protobuf,application/json';
const PROTOBUF = 'application/vnd.kubernetes.protobuf';

describeOnControlPlane("kubelet's start-up writes through the proxy against the real API server", () => {
  const rig = proxyOnControlPlane({ prefix: 'islet-kubelet-boot-', args: ['--log-level', 'debug'] });
  const csinodePath = () => `/apis/storage.k8s.io/v1/csinodes/${rig.cp.nodeName}`;
  const leasePath = () => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${rig.cp.nodeName}`;
  /** A request as kubelet sends it, to the proxy's loopback listener (the node identity). */
  const send = (method: string, path: string, body?: unknown, contentType = 'application/json') =>
    rawRequest(rig.proxy.url, {}, method, path, body, {
      Accept: KUBELET_ACCEPT,
      'User-Agent': 'kubelet/v1.35.4 (linux/amd64) kubernetes/test',
      ...(body !== undefined ? { 'Content-Type': contentType } : {}),
    });
  /** kubelet registering Node `name` (protobuf, as it sends it). */
  const registerNode = (name: string) =>
    send('POST', '/api/v1/nodes', encodeMetadataOnly('v1', 'Node', { name }), PROTOBUF);
  const reason = (r: RawResponse) => (r.json as { reason?: string } | undefined)?.reason;

  it('answers offline what kubelet created online, and 409 AlreadyExists when it registers its Node again', async () => {
    await rig.restartProxy('online');
    // Online, as kubelet's first boot: each object read first (404), then created.
    for (const p of [csinodePath(), leasePath(), `/api/v1/nodes/${rig.cp.nodeName}`])
      expect((await send('GET', p)).status).toBe(404);
    const node = await registerNode(rig.cp.nodeName);
    expect(node.status).toBe(201);
    const csinode = await send('POST', '/apis/storage.k8s.io/v1/csinodes', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'CSINode',
      metadata: { name: rig.cp.nodeName },
      spec: { drivers: [] },
    });
    expect(csinode.status).toBe(201);
    // The proxy asked upstream for JSON for this protobuf-accepting client, so it could keep it.
    expect(csinode.headers['content-type']).toMatch(/^application\/json/);
    const lease = await send('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: rig.cp.nodeName, namespace: 'kube-node-lease' },
      spec: {
        holderIdentity: rig.cp.nodeName,
        leaseDurationSeconds: 40,
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    });
    expect(lease.status).toBe(201);

    // The node reboots offline.
    await rig.restartProxy('offline');
    const csinodeOffline = await send('GET', csinodePath());
    expect(csinodeOffline.status).toBe(200);
    expect((csinodeOffline.json as { metadata: { uid: string } }).metadata.uid).toBe(
      (csinode.json as { metadata: { uid: string } }).metadata.uid,
    );
    expect((await send('GET', leasePath())).status).toBe(200);
    expect((await send('GET', `/api/v1/nodes/${rig.cp.nodeName}`)).status).toBe(200);

    // Registering again (protobuf, as kubelet does): the Node is held and was read by the node.
    const again = await registerNode(rig.cp.nodeName);
    expect(again.status).toBe(409);
    expect(reason(again)).toBe('AlreadyExists');
    expect((again.json as { message: string }).message).toBe(`nodes "${rig.cp.nodeName}" already exists`);
    expect((again.json as { details: { name: string } }).details.name).toBe(rig.cp.nodeName);
    const csinodeAgain = await send('POST', '/apis/storage.k8s.io/v1/csinodes', {
      metadata: { name: rig.cp.nodeName },
      spec: { drivers: [] },
    });
    expect(csinodeAgain.status).toBe(409);
    expect((csinodeAgain.json as { message: string }).message).toBe(
      `csinodes.storage.k8s.io "${rig.cp.nodeName}" already exists`,
    );
    // A create of something the cache does not hold is still the API server's decision.
    const other = await registerNode('edge-unknown');
    expect(other.status).toBe(503);
    // kubelet's DRA clean-up at start: refused offline (kubelet retries it with backoff until online).
    const wipe = await send(
      'DELETE',
      `/apis/resource.k8s.io/v1/resourceslices?fieldSelector=spec.nodeName%3D${rig.cp.nodeName}`,
      { kind: 'DeleteOptions', apiVersion: 'v1' },
    );
    expect(wipe.status).toBe(503);
  });

  it('counts an open watch in islet_proxy_requests_total and logs requests in the debug access log', async () => {
    // Back online: kubelet's node watch, passed to the API server and open for as long as kubelet runs.
    const proxy = await rig.restartProxy('online');
    const watch = rawWatch(
      proxy.url,
      {},
      `/api/v1/nodes?fieldSelector=metadata.name%3D${rig.cp.nodeName}&watch=1&allowWatchBookmarks=true`,
    );
    try {
      await eventually(
        'the open watch counted',
        async () => (await (await fetch(`${proxy.adminUrl}/metrics`)).text()).split('\n'),
        (lines) =>
          lines.some((l) =>
            /^islet_proxy_requests_total\{.*verb="watch".*resource="nodes".*code="200".*served_from="upstream".*\} 1$/.test(
              l,
            ),
          ),
        20_000,
      );
      const logged = proxy.logs
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .filter((r) => r.msg === 'request');
      expect(logged.find((r) => r.verb === 'watch' && r.resource === 'nodes')).toMatchObject({
        code: 200,
        servedFrom: 'upstream',
        fieldSelector: `metadata.name=${rig.cp.nodeName}`,
        identity: 'node',
      });
      const create = await registerNode(rig.cp.nodeName);
      expect(create.status).toBe(409);
      await eventually(
        'the create in the access log',
        () => proxy.logs.some((l) => l.includes('"msg":"request"') && l.includes('"verb":"create"')),
        Boolean,
        5_000,
      );
      const line = proxy.logs.find((l) => l.includes('"msg":"request"') && l.includes('"verb":"create"'))!;
      expect(JSON.parse(line)).toMatchObject({
        code: 409,
        servedFrom: 'upstream',
        resource: 'nodes',
        contentType: PROTOBUF,
        accept: KUBELET_ACCEPT,
        userAgent: expect.stringMatching(/^kubelet\//),
      });
    } finally {
      watch.close();
    }
  });
});
