/**
 * @kubernetes/client-node 1.4 (typed API, informers, raw Watch) straight against the simulator.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from './index.js';

let sim: Simulator;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const informers: Array<k8s.Informer<k8s.KubernetesObject>> = [];

function pod(name: string, namespace: string, labels: Record<string, string> = {}): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox:1.36' }] },
  };
}

beforeAll(async () => {
  sim = await startSimulator({ bookmarkIntervalMs: 200 });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(await sim.writeKubeconfig({ cert: await sim.mintClientCert('node-a') }));
  core = kc.makeApiClient(k8s.CoreV1Api);
});

afterAll(async () => {
  for (const i of informers) await i.stop();
  await sim?.close();
});

describe('client-node against the simulator', () => {
  it('lists, creates, patches and gets the API server errors it expects', async () => {
    sim.create('pods', pod('pre-1', 'cn', { app: 'x' }) as never);
    sim.create('pods', pod('pre-2', 'cn', { app: 'y' }) as never);
    const list = await core.listNamespacedPod({ namespace: 'cn', labelSelector: 'app=x' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['pre-1']);
    expect(list.metadata?.resourceVersion).toBe(String(sim.resourceVersion));

    const created = await core.createNamespacedPod({ namespace: 'cn', body: pod('made', 'cn') });
    expect(created.metadata?.uid).toBe(sim.get('pods', 'made', 'cn')!.metadata.uid);
    expect(created.status?.phase).toBe('Pending');

    const patched = await core.patchNamespacedPod(
      { name: 'made', namespace: 'cn', body: { metadata: { labels: { patched: 'true' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({ patched: 'true' });
    const status = await core.patchNamespacedPodStatus(
      {
        name: 'made',
        namespace: 'cn',
        body: {
          status: {
            phase: 'Running',
            containerStatuses: [
              { name: 'c', ready: true, restartCount: 0, image: 'busybox:1.36', imageID: '' },
            ],
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(status.status?.phase).toBe('Running');
    expect(status.status?.containerStatuses?.[0]?.ready).toBe(true);

    const stale = { ...created, metadata: { ...created.metadata, labels: { stale: 'yes' } } };
    await expect(
      core.replaceNamespacedPod({ name: 'made', namespace: 'cn', body: stale }),
    ).rejects.toMatchObject({
      code: 409,
    });
    await expect(core.readNamespacedPod({ name: 'missing', namespace: 'cn' })).rejects.toMatchObject({
      code: 404,
    });
    await expect(
      core.createNamespacedPod({ namespace: 'cn', body: pod('made', 'cn') }),
    ).rejects.toMatchObject({
      code: 409,
    });
  });

  it('feeds an informer ADDED, UPDATE and DELETE, filtered by label selector', async () => {
    sim.create('pods', pod('inf-0', 'inf', { app: 'inf' }) as never);
    sim.create('pods', pod('other', 'inf', { app: 'other' }) as never);
    const informer = k8s.makeInformer(
      kc,
      '/api/v1/namespaces/inf/pods',
      () => core.listNamespacedPod({ namespace: 'inf', labelSelector: 'app=inf' }),
      'app=inf',
    );
    informers.push(informer as never);
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.v ?? ''}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    await informer.start();
    await expect.poll(() => seen, { timeout: 20_000 }).toEqual(['add inf-0']);
    await expect
      .poll(() => sim.watchCount({ resource: 'pods', namespace: 'inf', labelSelector: 'app=inf' }).open, {
        timeout: 20_000,
      })
      .toBe(1);
    sim.create('pods', pod('inf-1', 'inf', { app: 'inf' }) as never);
    sim.patch('pods', 'inf-1', { metadata: { labels: { v: '2' } } }, { namespace: 'inf' });
    sim.patch('pods', 'other', { metadata: { labels: { v: '2' } } }, { namespace: 'inf' });
    sim.delete('pods', 'inf-0', { namespace: 'inf' });
    await expect
      .poll(() => seen, { timeout: 20_000 })
      .toEqual(['add inf-0', 'add inf-1', 'update inf-1 2', 'delete inf-0']);
    expect(informer.list('inf').map((p) => p.metadata?.name)).toEqual(['inf-1']);
  });

  it('makes an informer relist once after a 410 on resume, and it then sees what it missed', async () => {
    sim.create('configmaps', { metadata: { name: 'c0', namespace: 'gone' } });
    const cmCore = core;
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/gone/configmaps', () =>
      cmCore.listNamespacedConfigMap({ namespace: 'gone' }),
    );
    informers.push(informer as never);
    const added: string[] = [];
    informer.on('add', (c) => added.push(c.metadata!.name!));
    await informer.start();
    await expect
      .poll(() => sim.watchCount({ resource: 'configmaps', namespace: 'gone' }).open, { timeout: 20_000 })
      .toBe(1);
    const listsBefore = sim.listCount({ resource: 'configmaps', namespace: 'gone' });
    const watchesBefore = sim.watchCount({ resource: 'configmaps', namespace: 'gone' }).opened;
    // The watch ends cleanly, and before the informer resumes its resourceVersion is compacted away.
    expect(sim.dropWatches({ graceful: true })).toBeGreaterThanOrEqual(1);
    sim.create('configmaps', { metadata: { name: 'c1', namespace: 'gone' } });
    sim.compact();
    await expect.poll(() => added, { timeout: 20_000 }).toEqual(['c0', 'c1']);
    expect(sim.listCount({ resource: 'configmaps', namespace: 'gone' })).toBe(listsBefore + 1);
    // One resume that got the 410 ERROR event, then one watch after the relist.
    await expect
      .poll(() => sim.watchCount({ resource: 'configmaps', namespace: 'gone' }), { timeout: 20_000 })
      .toEqual({
        opened: watchesBefore + 2,
        open: 1,
      });
    const resumed = sim.requests.filter((r) => r.verb === 'watch' && r.namespace === 'gone').slice(-2);
    expect(Number(resumed[0]!.query.resourceVersion)).toBeLessThan(sim.compactedResourceVersion);
  });

  it('delivers a 410 ERROR event to a raw Watch with a compacted resourceVersion', async () => {
    const rv = sim.resourceVersion;
    sim.create('configmaps', { metadata: { name: 'bump', namespace: 'raw' } });
    sim.compact();
    const events: Array<{ phase: string; obj: { code?: number; reason?: string } }> = [];
    const done = new Promise<unknown>((resolve) => {
      void new k8s.Watch(kc).watch(
        '/api/v1/namespaces/raw/configmaps',
        { resourceVersion: String(rv - 1) },
        (phase, obj) => events.push({ phase, obj }),
        resolve,
      );
    });
    await done;
    expect(events).toEqual([
      { phase: 'ERROR', obj: expect.objectContaining({ code: 410, reason: 'Expired' }) },
    ]);
  });
});
