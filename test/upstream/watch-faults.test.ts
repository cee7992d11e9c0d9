/**
 * Upstream faults the node's shared watches must ride out, made the real way where the server can
 * make them, on the simulator and on the real API server:
 *  - 410 Expired: the link is cut while the server changes the node's pods, then history is
 *    compacted (real: etcd compaction with --watch-cache=false, so the server reads old revisions
 *    from etcd and answers 410). On reconnect the proxy's shared watch relists once and hands its
 *    local watchers the difference as events: no local client sees the 410 or relists.
 *  - 429 Too Many Requests with Retry-After on the watch's reopen (real: API Priority and Fairness
 *    with the node's one seat held, test/k8s/apf-overload.ts).
 *  - BOOKMARKs from the server reach the proxy's shared watch and move its resourceVersion on.
 */
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import { clientNodeConfig, eventually, httpJson, metric, waitLink } from '../proxy/harness.js';
import { openWatch, type WatchClient } from '../watch/watch-client.js';
import { type NodeInformer, nodeInformer, sortedNames } from './node-clients.js';
import { describeOnUpstreams, proxyOnUpstream } from './suite.js';

const NS = 'faults';

describeOnUpstreams('shared watch faults', (c) => {
  const rig = proxyOnUpstream(c, {
    prefix: 'islet-upstream-faults-',
    options: { history: 'etcd', overloadable: true },
    seed: async (up) => {
      await up.ensureNamespace(NS);
      for (const n of ['p0', 'p1', 'p2', 'p3'])
        await up.adminCreate('pods', podOn(n, up.nodeName, 'web', NS));
    },
  });
  let pods: NodeInformer;
  let raw: WatchClient;
  const kubeletPods = () => `/api/v1/pods?fieldSelector=spec.nodeName%3D${rig.up.nodeName}`;

  beforeAll(async () => {
    pods = nodeInformer(clientNodeConfig(rig.proxy.url), 'pods', rig.up.nodeName);
    await pods.start();
    await eventually('informer synced', () => pods.names().length === 4);
    const rv = (pods.informer as k8s.ListWatch<k8s.KubernetesObject>).latestResourceVersion();
    raw = await openWatch(rig.proxy.url, `${kubeletPods()}&watch=1&resourceVersion=${rv}`);
    expect(raw.status).toBe(200);
  });

  afterAll(async () => {
    raw?.close();
    await pods?.stop();
  });

  it('410 after compaction: one relist upstream, the difference delivered as events, no local relist', async () => {
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    await rig.up.adminCreate('pods', podOn('during-1', rig.up.nodeName, 'web', NS));
    await rig.up.adminDelete('pods', 'p1', NS);
    await rig.up.adminPatch('pods', 'p2', { metadata: { labels: { app: 'db' } } }, { namespace: NS });
    await rig.up.compact();
    const lists = await rig.up.countRequests('LIST', 'pods');
    const relists = await metric(rig.proxy.adminUrl, 'islet_watch_relists_total');
    await rig.up.heal();
    await waitLink(rig.dir, 'online');
    await eventually(
      'informer caught up',
      () => pods.names().includes('during-1') && !pods.names().includes('p1'),
    );
    await eventually('informer got the update', () => pods.events.includes('update p2'));
    expect(pods.events).toEqual(expect.arrayContaining(['add during-1', 'delete p1', 'update p2']));
    await eventually('raw watcher got the difference', () => raw.names().includes('during-1'));
    expect(
      raw.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name}`),
    ).toEqual(expect.arrayContaining(['ADDED during-1', 'DELETED p1', 'MODIFIED p2']));
    expect(raw.events.some((e) => e.type === 'ERROR')).toBe(false);
    expect(raw.state()).toBe('open');
    expect(pods.lists).toBe(1);
    expect(pods.errors).toEqual([]);
    // Exactly the proxy's one relist reached the server.
    expect((await rig.up.countRequests('LIST', 'pods')) - lists).toBe(1);
    expect((await metric(rig.proxy.adminUrl, 'islet_watch_relists_total')) - (relists || 0)).toBe(1);
    // The watch runs on from the list's version.
    await rig.up.adminCreate('pods', podOn('after-relist', rig.up.nodeName, 'web', NS));
    await eventually('events flow after the relist', () => pods.events.includes('add after-relist'));
    expect(sortedNames(pods.informer.list())).toEqual(
      sortedNames(await rig.up.adminList('pods', { fieldSelector: `spec.nodeName=${rig.up.nodeName}` })),
    );
  });

  it('429 with Retry-After while the node is overloaded: the shared watch waits and resumes, no relist', async () => {
    const lists = await rig.up.countRequests('LIST', 'pods');
    const overload = await rig.up.overloadNode();
    try {
      // Break the shared watch: its reopen meets the overload.
      await rig.up.partition('refuse');
      await rig.up.heal();
      // Refused, waited Retry-After, refused again: it keeps trying at the server's pace.
      await eventually(
        'the reopen refused twice',
        () => overload.rejected(),
        (n) => n >= 2,
        30_000,
      );
      expect(raw.state()).toBe('open');
      // A read passed through meanwhile gets the server's answer as it is, Retry-After included,
      // so the client backs off as the server asks (no answer from the cache while online).
      const get = await httpJson(`${rig.proxy.url}/api/v1/namespaces/${NS}/pods/p0`);
      expect(get.status).toBe(429);
      expect(get.headers.get('retry-after')).toBe('1');
      // kube-apiserver's APF answers in plain text (the simulator in a Status): passed on as sent.
      expect(get.text).toContain('Too many requests, please try again later.');
    } finally {
      await overload.release();
    }
    await rig.up.adminCreate('pods', podOn('after-429', rig.up.nodeName, 'web', NS));
    await eventually(
      'events flow after the 429s',
      () => pods.events.includes('add after-429'),
      Boolean,
      30_000,
    );
    await eventually('raw watcher too', () => raw.names().includes('after-429'));
    expect(await rig.up.countRequests('LIST', 'pods')).toBe(lists);
    expect(pods.lists).toBe(1);
    expect(pods.errors).toEqual([]);
    expect(raw.state()).toBe('open');
  });

  it('restarted offline across a compaction: a new informer lists from disk, and the one relist on reconnect reaches it as events', async () => {
    raw.close();
    await pods.stop();
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    expect(await rig.proxy.stop()).toBe(0);
    await rig.up.adminCreate('pods', podOn('while-down', rig.up.nodeName, 'web', NS));
    await rig.up.adminDelete('pods', 'p3', NS);
    await rig.up.compact();
    const proxy = await rig.restartProxy();
    const cached = sortedNames(pods.informer.list());
    pods = nodeInformer(clientNodeConfig(proxy.url), 'pods', rig.up.nodeName);
    await pods.start();
    await eventually('listed from disk', () => JSON.stringify(pods.names()) === JSON.stringify(cached));
    const lists = await rig.up.countRequests('LIST', 'pods');
    await rig.up.heal();
    await waitLink(rig.dir, 'online');
    await eventually('caught up', () => pods.names().includes('while-down') && !pods.names().includes('p3'));
    expect(pods.events).toEqual(expect.arrayContaining(['add while-down', 'delete p3']));
    expect(pods.lists).toBe(1);
    expect(pods.errors).toEqual([]);
    expect((await rig.up.countRequests('LIST', 'pods')) - lists).toBe(1);
  });
});
