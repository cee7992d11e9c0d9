/**
 * Offline reads from the cache: real kubectl and client-node informers through the built `islet proxy`
 * against the simulator: online pass-through, offline answers from the cache (with kubelet-style
 * field selectors and kube-proxy-style label selectors), watches held open offline, writes refused
 * with a Status, changes seen by watches reflected offline, and an offline restart served from disk.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import {
  clientNodeConfig,
  eventually,
  fastBookmarkArgs,
  httpJson,
  Kubectl,
  podInformer,
  twoProbeLinkArgs,
  waitLink,
  waitReadyz,
} from './harness.js';
import { proxyOnSimulator } from './suite.js';

type Named = {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
};
const names = (items: Named[]) => items.map((i) => i.metadata.name).sort();

const pod = (name: string, node: string, app: string, ns = 'default') => podOn(name, node, app, ns);

/** A ConfigMap manifest file for `kubectl create -f`. */
function manifest(dir: string, name: string, data: Record<string, string>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data }),
  );
  return path;
}

describe('islet proxy with kubectl and informers (online, offline, offline restart)', () => {
  let kubectl: Kubectl;
  let informer: ReturnType<typeof podInformer>;
  const rig = proxyOnSimulator({
    prefix: 'islet-proxy-it-',
    simulator: { bookmarkIntervalMs: 300 },
    node: 'node-a',
    seed: (sim) => {
      for (const [n, node, app] of [
        ['web-1', 'node-a', 'web'],
        ['web-2', 'node-a', 'web'],
        ['db-1', 'node-a', 'db'],
        ['web-3', 'node-b', 'web'],
      ] as const) {
        sim.create('pods', pod(n, node, app));
      }
      sim.create('pods', pod('sys-1', 'node-a', 'dns', 'kube-system'));
      sim.create('services', {
        metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
        spec: { ports: [{ port: 80 }], selector: { app: 'web' } },
      });
      for (const [n, svc] of [
        ['web-abc', 'web'],
        ['db-abc', 'db'],
      ]) {
        sim.create(
          { group: 'discovery.k8s.io', resource: 'endpointslices' },
          {
            metadata: { name: n!, namespace: 'default', labels: { 'kubernetes.io/service-name': svc! } },
            addressType: 'IPv4',
            endpoints: [{ addresses: ['10.244.0.5'] }],
          },
        );
      }
      sim.create('configmaps', { metadata: { name: 'cm-1', namespace: 'default' }, data: { a: '1' } });
    },
    args: [...twoProbeLinkArgs, ...fastBookmarkArgs],
  });

  beforeAll(() => {
    kubectl = new Kubectl(rig.dir, rig.proxy.url);
  });

  afterAll(async () => {
    await informer?.stop();
  });

  it('online: kubectl and an informer see exactly what the simulator holds; writes pass through', async () => {
    const all = await kubectl.json<{ items: Named[] }>(['get', 'pods', '-A']);
    expect(names(all.items)).toEqual(names(rig.sim.list('pods').items as Named[]));
    const onNodeA = await kubectl.json<{ items: Named[] }>([
      'get',
      'pods',
      '-A',
      '--field-selector',
      'spec.nodeName=node-a',
    ]);
    expect(names(onNodeA.items)).toEqual(['db-1', 'sys-1', 'web-1', 'web-2']);
    const web = await kubectl.json<{ items: Named[] }>(['get', 'pods', '-l', 'app=web']);
    expect(names(web.items)).toEqual(['web-1', 'web-2', 'web-3']);
    const slices = await kubectl.json<{ items: Named[] }>(['get', 'endpointslices', '-A']);
    expect(names(slices.items)).toEqual(['db-abc', 'web-abc']);
    const one = await kubectl.json<Named>(['get', 'pod', 'web-1']);
    expect(one.metadata.resourceVersion).toBe(rig.sim.get('pods', 'web-1')!.metadata.resourceVersion);
    await kubectl.json(['get', 'services,configmaps', '-A']);

    // kubectl's typed `create configmap` sends protobuf, which the simulator does not decode;
    // `create -f` sends JSON through the same pass-through path.
    const created = await kubectl.run(['create', '-f', manifest(rig.dir, 'made-online', { k: 'v' })]);
    expect(created.code, created.stderr).toBe(0);
    expect(rig.sim.get('configmaps', 'made-online')?.data).toEqual({ k: 'v' });

    informer = podInformer(clientNodeConfig(rig.proxy.url));
    await informer.informer.start();
    await eventually(
      'informer synced',
      () => informer.names(),
      (n) => n.length === 5,
    );
    expect(informer.names()).toEqual(names(rig.sim.list('pods').items as Named[]));

    // kubectl get -w sees a pod created upstream.
    const watch = kubectl.watch(['pods', '--field-selector', 'spec.nodeName=node-a']);
    try {
      await watch.seen('pod/web-1');
      rig.sim.create('pods', pod('late-1', 'node-a', 'web'));
      await watch.seen('pod/late-1');
    } finally {
      watch.stop();
    }
    await eventually(
      'informer saw the new pod',
      () => informer.names(),
      (n) => n.includes('late-1'),
    );
  });

  it('changes made upstream while watched are what is served offline', async () => {
    // No LIST after this point: only the watch streams can teach the cache these changes.
    rig.sim.patch('pods', 'web-2', { metadata: { labels: { app: 'web', tier: 'gold' } } });
    rig.sim.delete('pods', 'web-3');
    rig.sim.create('pods', pod('late-2', 'node-a', 'db'));
    await eventually(
      'informer saw the changes',
      () => informer.names(),
      (n) => n.includes('late-2') && !n.includes('web-3'),
    );
    await rig.sim.partition('refuse');
    await waitLink(rig.dir, 'offline');
    const ready = await httpJson(`${rig.proxy.adminUrl}/readyz`);
    expect(ready.status).toBe(503);

    // The watch's events reach the store through the cache's write queue, which may still be
    // draining: wait until the offline list has them all.
    await eventually(
      'the changes in the offline pod list',
      async () => names(((await httpJson(`${rig.proxy.url}/api/v1/pods`)).body as { items: Named[] }).items),
      (n) => JSON.stringify(n) === JSON.stringify(names(rig.sim.list('pods').items as Named[])),
    );
    const all = await kubectl.json<{ items: Named[] }>(['get', 'pods', '-A']);
    expect(names(all.items)).toEqual(names(rig.sim.list('pods').items as Named[]));
    const gold = await kubectl.json<{ items: Named[] }>(['get', 'pods', '-l', 'tier=gold']);
    expect(names(gold.items)).toEqual(['web-2']);
  });

  it('offline: GET/LIST with selectors from the cache, watches stay open and end cleanly, writes get 503', async () => {
    const kubelet = await httpJson(`${rig.proxy.url}/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a`);
    expect(kubelet.status).toBe(200);
    const podList = kubelet.body as {
      kind: string;
      apiVersion: string;
      items: Named[];
      metadata: { resourceVersion: string };
    };
    expect(podList.kind).toBe('PodList');
    expect(podList.apiVersion).toBe('v1');
    expect(names(podList.items)).toEqual(['db-1', 'late-1', 'late-2', 'sys-1', 'web-1', 'web-2']);
    expect(Number(podList.metadata.resourceVersion)).toBeGreaterThan(0);

    // kube-proxy style: label selectors with set operators over endpointslices.
    const slices = await kubectl.json<{ items: Named[] }>([
      'get',
      'endpointslices',
      '-A',
      '-l',
      'kubernetes.io/service-name,kubernetes.io/service-name notin (db)',
    ]);
    expect(names(slices.items)).toEqual(['web-abc']);
    const one = await kubectl.json<Named>(['get', 'pod', 'web-1']);
    expect(one.metadata.name).toBe('web-1');
    const missing = await kubectl.run(['get', 'pod', 'never-existed']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('NotFound');

    // The informer keeps its objects; a fresh informer lists from the cache.
    expect(informer.names()).toEqual(names(rig.sim.list('pods').items as Named[]));
    const fresh = podInformer(clientNodeConfig(rig.proxy.url));
    try {
      await fresh.informer.start();
      const expected = names(rig.sim.list('pods').items as Named[]);
      await eventually(
        'fresh informer listed offline',
        () => fresh.names(),
        (n) => JSON.stringify(n) === JSON.stringify(expected),
      );
    } finally {
      await fresh.stop();
    }

    // A watch opened offline gets BOOKMARKs and ends cleanly at its timeout.
    const started = Date.now();
    const res = await fetch(
      `${rig.proxy.url}/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=2`,
    );
    expect(res.status).toBe(200);
    const text = await res.text();
    // Ends on its own at the timeout, less at most the 10% jitter that spreads reconnects (not early).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const events = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { type: string; object: Named });
    expect(events.some((e) => e.type === 'BOOKMARK')).toBe(true);
    expect(events.every((e) => e.type !== 'ERROR')).toBe(true);

    // Writes are refused with a Status, never faked.
    const write = await httpJson(`${rig.proxy.url}/api/v1/namespaces/default/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'offline-cm' } }),
    });
    expect(write.status).toBe(503);
    expect(write.body).toMatchObject({ kind: 'Status', code: 503, status: 'Failure' });
    const kubectlWrite = await kubectl.run(['create', '-f', manifest(rig.dir, 'offline-cm-2', { a: 'b' })]);
    expect(kubectlWrite.code).not.toBe(0);
    expect(rig.sim.get('configmaps', 'offline-cm')).toBeUndefined();
  });

  it('restarted while the upstream is down, the proxy serves everything cached before from disk', async () => {
    await informer.stop();
    expect(await rig.proxy.stop()).toBe(0);
    const proxy = await rig.restartProxy();
    const ready = await httpJson(`${proxy.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    // A kubectl with an empty discovery cache: discovery comes from the proxy's cache too.
    mkdirSync(join(rig.dir, 'fresh'));
    const fresh = new Kubectl(join(rig.dir, 'fresh'), proxy.url);
    const all = await fresh.json<{ items: Named[] }>(['get', 'pods', '-A']);
    expect(names(all.items)).toEqual(names(rig.sim.list('pods').items as Named[]));
    const onNodeA = await httpJson(`${proxy.url}/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a`);
    expect(names((onNodeA.body as { items: Named[] }).items)).toEqual([
      'db-1',
      'late-1',
      'late-2',
      'sys-1',
      'web-1',
      'web-2',
    ]);
    const slices = await fresh.json<{ items: Named[] }>(['get', 'endpointslices', '-A']);
    expect(names(slices.items)).toEqual(['db-abc', 'web-abc']);
    const cm = await fresh.json<{ data: Record<string, string> }>(['get', 'configmap', 'made-online']);
    expect(cm.data).toEqual({ k: 'v' });

    // Back online: the proxy notices and passes writes through again.
    await rig.sim.heal();
    await waitReadyz(proxy, 'online');
    const created = await fresh.run(['create', '-f', manifest(rig.dir, 'after-heal', { x: 'y' })]);
    expect(created.code, created.stderr).toBe(0);
    expect(rig.sim.get('configmaps', 'after-heal')).toBeDefined();
  });
});
