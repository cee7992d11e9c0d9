/**
 * The node's reads through the built `dist/islet proxy`, on the simulator and on the real API
 * server, as `system:node:edge-1` (what the node authorizer allows): kubelet-style pod and node
 * reads with field selectors, kube-proxy-style service reads with label selectors, kubectl and
 * client-node informers. Online pass-through (and the server's refusals passed on); the link cut;
 * offline GET/LIST/WATCH from the cache; a watch held open offline; writes refused with an offline
 * Status; reconnect resumes the watches without a LIST upstream; a proxy restarted offline serves
 * from disk.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { podOn, service } from '../objects.js';
import { clientNodeConfig, eventually, httpJson, Kubectl, waitLink } from '../proxy/harness.js';
import { openWatch } from '../watch/watch-client.js';
import {
  KUBE_PROXY_SERVICES,
  type Named,
  type NodeInformer,
  nodeInformer,
  sortedNames,
} from './node-clients.js';
import { describeOnUpstreams, proxyOnUpstream } from './suite.js';

const NS = 'apps';

describeOnUpstreams('node reads through the proxy, online and offline', (c) => {
  const rig = proxyOnUpstream(c, {
    prefix: 'islet-upstream-reads-',
    seed: async (up) => {
      await up.ensureNamespace(NS);
      await up.adminCreate('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: up.nodeName } });
      await up.adminCreate('configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'web-config', namespace: NS },
        data: { a: '1' },
      });
      // web-1 mounts web-config: that is what lets the node read it on the real server.
      await up.adminCreate(
        'pods',
        podOn('web-1', up.nodeName, 'web', NS, {
          volumes: [
            { name: 'cfg', configMap: { name: 'web-config' } },
            { name: 'creds', secret: { secretName: 'web-secret' } },
          ],
        }),
      );
      for (const name of ['web-secret', 'unrelated-secret']) {
        await up.adminCreate('secrets', {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, namespace: NS },
          stringData: { token: name },
        });
      }
      await up.adminCreate('pods', podOn('web-2', up.nodeName, 'web', NS));
      await up.adminCreate('pods', podOn('db-1', up.nodeName, 'db', NS));
      await up.adminCreate('pods', podOn('elsewhere-1', 'edge-2', 'web', NS));
      await up.adminCreate('services', service('web', NS, { app: 'web' }));
      await up.adminCreate('services', service('db', NS, { app: 'db' }));
      await up.adminCreate(
        'services',
        service('web-headless', NS, { 'service.kubernetes.io/headless': '' }, true),
      );
    },
  });
  let kubectl: Kubectl;
  let pods: NodeInformer;
  let svcs: NodeInformer;
  let node: NodeInformer;
  const kubeletPods = () => `/api/v1/pods?fieldSelector=spec.nodeName%3D${rig.up.nodeName}`;
  /** The sorted names of what `kubectl get <args>` lists. */
  const listed = async (k: Kubectl, args: string[]) =>
    sortedNames((await k.json<{ items: Named[] }>(['get', ...args])).items);
  /** `kubectl get pods -A` of this node's pods (the only pod list a node may make). */
  const podsOnNode = (k: Kubectl) =>
    listed(k, ['pods', '-A', '--field-selector', `spec.nodeName=${rig.up.nodeName}`]);
  /** What `kubectl get` shows of the node itself and of web-config (which web-1 mounts). */
  const nodeAndConfig = async (k: Kubectl) => ({
    node: (await k.json<Named>(['get', 'node', rig.up.nodeName])).metadata?.name,
    config: (await k.json<{ data: Record<string, string> }>(['get', 'configmap', 'web-config', '-n', NS]))
      .data,
  });
  /** Services as kube-proxy selects them, narrowed by an `app` selector. */
  const kubeProxyServices = (app: string) =>
    listed(kubectl, ['services', '-n', NS, '-l', `${KUBE_PROXY_SERVICES},${app}`]);
  /** client-go's reflector: first LIST at resourceVersion=0 in pages, protobuf preferred. */
  const reflectorList = () =>
    httpJson(`${rig.proxy.url}${kubeletPods()}&resourceVersion=0&limit=500`, {
      headers: { accept: 'application/vnd.kubernetes.protobuf,application/json' },
    });
  const truthOnNode = async () =>
    sortedNames(await rig.up.adminList('pods', { fieldSelector: `spec.nodeName=${rig.up.nodeName}` }));

  /** Heals the link and waits until the pod informer holds `added` and no longer `deleted`. */
  const healUntilPods = async (added: string, deleted: string) => {
    await rig.up.heal();
    await waitLink(rig.dir, 'online');
    await eventually(
      'pod informer caught up',
      () => pods.names().includes(added) && !pods.names().includes(deleted),
    );
  };

  beforeAll(() => {
    kubectl = new Kubectl(rig.dir, rig.proxy.url);
  });

  afterAll(async () => {
    for (const i of [pods, svcs, node]) await i?.stop();
  });

  it('online: kubectl and informers see what the server holds for the node; its refusals pass through', async () => {
    expect(await podsOnNode(kubectl)).toEqual(['db-1', 'web-1', 'web-2']);
    expect(await kubeProxyServices('app in (web)')).toEqual(['web']);
    const one = await kubectl.json<Named>(['get', 'pod', 'web-1', '-n', NS]);
    expect(one.metadata?.resourceVersion).toBe(
      (await rig.up.adminGet('pods', 'web-1', NS)).metadata.resourceVersion,
    );
    expect(await nodeAndConfig(kubectl)).toEqual({ node: rig.up.nodeName, config: { a: '1' } });

    const reflector = await reflectorList();
    expect(reflector.status).toBe(200);
    expect(reflector.headers.get('content-type')).toContain('application/json');
    expect(sortedNames((reflector.body as { items: Named[] }).items)).toEqual(['db-1', 'web-1', 'web-2']);
    const secret = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/secrets/web-secret`);
    expect(secret.status).toBe(200);
    // Not referenced by any of the node's pods: the real node authorizer refuses it.
    const unrelated = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/secrets/unrelated-secret`);
    expect(unrelated.status).toBe(rig.up.kind === 'real' ? 403 : 200);

    if (rig.up.kind === 'real') {
      // The node authorizer's word reaches the client as it is: the proxy does not work around it.
      const all = await kubectl.run(['get', 'pods', '-A']);
      expect(all.code).not.toBe(0);
      expect(all.stderr).toContain('Forbidden');
      const other = await kubectl.run(['get', 'pod', 'elsewhere-1', '-n', NS]);
      expect(other.stderr).toContain('Forbidden');
      const nodes = await httpJson(`${rig.proxy.url}/api/v1/nodes`);
      expect(nodes.status).toBe(403);
      expect(nodes.body).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    }

    const kc = clientNodeConfig(rig.proxy.url);
    pods = nodeInformer(kc, 'pods', rig.up.nodeName);
    svcs = nodeInformer(kc, 'services', rig.up.nodeName);
    node = nodeInformer(kc, 'node', rig.up.nodeName);
    await Promise.all([pods.start(), svcs.start(), node.start()]);
    // kube-proxy's selector leaves the headless service out (the real server adds its own "kubernetes").
    const wantServices = sortedNames(
      await rig.up.adminList('services', { labelSelector: KUBE_PROXY_SERVICES }),
    );
    expect(wantServices).not.toContain('web-headless');
    await eventually(
      'informers synced',
      () =>
        pods.names().length === 3 &&
        JSON.stringify(svcs.names()) === JSON.stringify(wantServices) &&
        node.names().length === 1,
    );

    // kubectl get -w (kubelet's selector) sees a pod bound to the node upstream.
    const watch = kubectl.watch(['pods', '-A', '--field-selector', `spec.nodeName=${rig.up.nodeName}`]);
    try {
      await watch.seen('pod/web-1');
      await rig.up.adminCreate('pods', podOn('late-1', rig.up.nodeName, 'web', NS));
      await watch.seen('pod/late-1');
    } finally {
      watch.stop();
    }
    await eventually('informer saw the new pod', () => pods.names().includes('late-1'));
  });

  it("kubelet's per-object watch of a referenced ConfigMap (fieldSelector metadata.name) sees its update", async () => {
    const byName = `/api/v1/namespaces/${NS}/configmaps?fieldSelector=metadata.name%3Dweb-config`;
    const list = await httpJson(`${rig.proxy.url}${byName}`);
    expect(list.status).toBe(200);
    const body = list.body as { items: Named[]; metadata: { resourceVersion: string } };
    expect(sortedNames(body.items)).toEqual(['web-config']);
    const watch = await openWatch(
      rig.proxy.url,
      `${byName}&watch=1&allowWatchBookmarks=true&resourceVersion=${body.metadata.resourceVersion}`,
    );
    try {
      expect(watch.status).toBe(200);
      await rig.up.adminPatch('configmaps', 'web-config', { data: { a: '1', b: '2' } }, { namespace: NS });
      await eventually('the watcher saw the update', () => watch.names('MODIFIED').includes('web-config'));
    } finally {
      watch.close();
    }
    if (rig.up.kind === 'real') {
      // A ConfigMap no pod of the node mounts: refused by name as well.
      const other = await httpJson(
        `${rig.proxy.url}/api/v1/namespaces/${NS}/configmaps?fieldSelector=metadata.name%3Dnot-mounted`,
      );
      expect(other.status).toBe(403);
    }
  });

  it('offline: GET/LIST with kubelet and kube-proxy selectors from the cache, watches stay open, writes get the offline Status', async () => {
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    expect((await httpJson(`${rig.proxy.adminUrl}/readyz`)).status).toBe(503);

    const kubelet = await httpJson(`${rig.proxy.url}${kubeletPods()}`);
    expect(kubelet.status).toBe(200);
    const list = kubelet.body as { kind: string; items: Named[]; metadata: { resourceVersion: string } };
    expect(list.kind).toBe('PodList');
    expect(sortedNames(list.items)).toEqual(await truthOnNode());
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(0);
    const reflector = await reflectorList();
    expect(reflector.status).toBe(200);
    expect(sortedNames((reflector.body as { items: Named[] }).items)).toEqual(await truthOnNode());

    expect(await kubeProxyServices('app notin (db)')).toEqual(['web']);
    const one = await kubectl.json<Named>(['get', 'pod', 'web-1', '-n', NS]);
    expect(one.metadata?.name).toBe('web-1');
    expect(await nodeAndConfig(kubectl)).toEqual({ node: rig.up.nodeName, config: { a: '1', b: '2' } });
    const byName = await httpJson(
      `${rig.proxy.url}/api/v1/namespaces/${NS}/configmaps?fieldSelector=metadata.name%3Dweb-config`,
    );
    expect(byName.status).toBe(200);
    expect(sortedNames((byName.body as { items: Named[] }).items)).toEqual(['web-config']);
    const missing = await kubectl.run(['get', 'pod', 'never-existed', '-n', NS]);
    expect(missing.code).not.toBe(0);
    const secret = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/secrets/web-secret`);
    expect(secret.status).toBe(200);
    expect((secret.body as { metadata: { name: string } }).metadata.name).toBe('web-secret');
    if (rig.up.kind === 'real') {
      // What the server refused the node online stays refused offline: no answer from the cache.
      const unrelated = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/secrets/unrelated-secret`);
      expect(unrelated.status).not.toBe(200);
      const elsewhere = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/pods/elsewhere-1`);
      expect(elsewhere.status).not.toBe(200);
      const all = await httpJson(`${rig.proxy.url}/api/v1/pods`);
      expect(all.status).not.toBe(200);
      expect(all.body).toMatchObject({ kind: 'Status' });
    }

    // The informers keep their objects; a fresh one lists from the cache.
    expect(pods.names()).toEqual(await truthOnNode());
    const fresh = nodeInformer(clientNodeConfig(rig.proxy.url), 'pods', rig.up.nodeName);
    try {
      await fresh.start();
      const want = await truthOnNode();
      await eventually(
        'fresh informer listed offline',
        () => JSON.stringify(fresh.names()) === JSON.stringify(want),
      );
    } finally {
      await fresh.stop();
    }

    // A watch opened offline (kubelet's selector) gets BOOKMARKs and ends cleanly at its timeout.
    const res = await fetch(
      `${rig.proxy.url}${kubeletPods()}&watch=1&allowWatchBookmarks=true&timeoutSeconds=2`,
    );
    expect(res.status).toBe(200);
    const events = (await res.text())
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { type: string });
    expect(events.some((e) => e.type === 'BOOKMARK')).toBe(true);
    expect(events.every((e) => e.type !== 'ERROR')).toBe(true);

    // Writes outside the write policy are refused with a Status, never faked.
    const write = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'offline-cm' } }),
    });
    expect(write.status).toBe(503);
    expect(write.body).toMatchObject({ kind: 'Status', code: 503, status: 'Failure' });
    const del = await kubectl.run(['delete', 'pod', 'web-2', '-n', NS, '--wait=false']);
    expect(del.code).not.toBe(0);
    expect(await rig.up.adminGet('configmaps', 'offline-cm', NS)).toBeUndefined();
    expect(await rig.up.adminGet('pods', 'web-2', NS)).toBeDefined();
  });

  it('reconnect: the informers get what changed meanwhile as events, and nothing LISTs pods upstream', async () => {
    // The server changes while the node cannot see it (the admin has its own way in).
    await rig.up.adminCreate('pods', podOn('during-1', rig.up.nodeName, 'web', NS));
    await rig.up.adminPatch(
      'pods',
      'web-2',
      { metadata: { labels: { app: 'web', rev: '2' } } },
      { namespace: NS },
    );
    await rig.up.adminDelete('pods', 'db-1', NS);
    await rig.up.adminPatch(
      'services',
      'db',
      { metadata: { labels: { app: 'db', rev: '2' } } },
      { namespace: NS },
    );
    const lists = await rig.up.countRequests('LIST', 'pods');
    const serviceLists = await rig.up.countRequests('LIST', 'services');
    await healUntilPods('during-1', 'db-1');
    expect(pods.events).toEqual(expect.arrayContaining(['add during-1', 'update web-2', 'delete db-1']));
    await eventually('service informer caught up', () => svcs.events.includes('update db'));
    // Resumed from their resourceVersions: no client relisted, no LIST reached the server.
    expect([pods.lists, svcs.lists, node.lists]).toEqual([1, 1, 1]);
    expect(await rig.up.countRequests('LIST', 'pods')).toBe(lists);
    expect(await rig.up.countRequests('LIST', 'services')).toBe(serviceLists);
  });

  it('a silent link (blackhole): detected, and on heal the watches resume without a LIST', async () => {
    await rig.up.partition('blackhole');
    await waitLink(rig.dir, 'offline');
    await rig.up.adminCreate('pods', podOn('during-2', rig.up.nodeName, 'db', NS));
    await rig.up.adminDelete('pods', 'during-1', NS);
    const lists = await rig.up.countRequests('LIST', 'pods');
    await healUntilPods('during-2', 'during-1');
    expect(pods.events).toEqual(expect.arrayContaining(['add during-2', 'delete during-1']));
    expect([pods.lists, svcs.lists, node.lists]).toEqual([1, 1, 1]);
    expect(await rig.up.countRequests('LIST', 'pods')).toBe(lists);
  });

  it('restarted while the server is unreachable, the proxy serves what it cached from disk', async () => {
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    for (const i of [pods, svcs, node]) await i.stop();
    expect(await rig.proxy.stop()).toBe(0);
    await rig.restartProxy();
    expect((await httpJson(`${rig.proxy.adminUrl}/readyz`)).status).toBe(503);
    // A kubectl with an empty discovery cache: discovery comes from the proxy's cache too.
    mkdirSync(join(rig.dir, 'fresh'));
    const fresh = new Kubectl(join(rig.dir, 'fresh'), rig.proxy.url);
    expect(await podsOnNode(fresh)).toEqual(await truthOnNode());
    expect(await nodeAndConfig(fresh)).toEqual({ node: rig.up.nodeName, config: { a: '1', b: '2' } });

    // Back online: a write the node may make (an event) passes through again.
    await rig.up.heal();
    await waitLink(rig.dir, 'online');
    const now = new Date().toISOString();
    const made = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'web-1.after-heal', namespace: NS },
        involvedObject: { kind: 'Pod', namespace: NS, name: 'web-1', apiVersion: 'v1' },
        reason: 'Started',
        message: 'after heal',
        type: 'Normal',
        source: { component: 'kubelet', host: rig.up.nodeName },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      }),
    });
    expect(made.status, made.text).toBe(201);
    expect(await rig.up.adminGet('events', 'web-1.after-heal', NS)).toMatchObject({ message: 'after heal' });
  });
});
