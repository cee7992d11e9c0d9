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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientNodeConfig,
  eventually,
  httpJson,
  metric,
  type RunningProxy,
  tempDir,
} from '../proxy/harness.js';
import { openWatch, type WatchClient } from '../watch/watch-client.js';
import { type NodeInformer, nodeInformer, podOn, sortedNames, waitLink } from './node-clients.js';
import { type TestUpstream, upstreams } from './upstream.js';

const NS = 'faults';

describe.each(upstreams())('shared watch faults ($kind upstream)', (c) => {
  describe.skipIf(c.skip !== '')(c.skip || 'runs', () => {
    let up: TestUpstream;
    let proxy: RunningProxy;
    let tmp: { dir: string; cleanup: () => void };
    let pods: NodeInformer;
    let raw: WatchClient;
    const kubeletPods = () => `/api/v1/pods?fieldSelector=spec.nodeName%3D${up.nodeName}`;

    beforeAll(async () => {
      tmp = tempDir(`islet-upstream-faults-${c.kind}-`);
      up = await c.start({ history: 'etcd', overloadable: true });
      await up.ensureNamespace(NS);
      for (const n of ['p0', 'p1', 'p2', 'p3'])
        await up.adminCreate('pods', podOn(n, up.nodeName, 'web', NS));
      proxy = await up.startProxy(tmp.dir);
      pods = nodeInformer(clientNodeConfig(proxy.url), 'pods', up.nodeName);
      await pods.start();
      await eventually('informer synced', () => pods.names().length === 4);
      const rv = (pods.informer as k8s.ListWatch<k8s.KubernetesObject>).latestResourceVersion();
      raw = await openWatch(proxy.url, `${kubeletPods()}&watch=1&resourceVersion=${rv}`);
      expect(raw.status).toBe(200);
    });

    afterAll(async () => {
      raw?.close();
      await pods?.stop();
      await proxy?.stop();
      await up?.close();
      tmp?.cleanup();
    });

    it('410 after compaction: one relist upstream, the difference delivered as events, no local relist', async () => {
      await up.partition('refuse');
      await waitLink(tmp.dir, 'offline');
      await up.adminCreate('pods', podOn('during-1', up.nodeName, 'web', NS));
      await up.adminDelete('pods', 'p1', NS);
      await up.adminPatch('pods', 'p2', { metadata: { labels: { app: 'db' } } }, { namespace: NS });
      await up.compact();
      const lists = await up.countRequests('LIST', 'pods');
      const relists = await metric(proxy.adminUrl, 'islet_watch_relists_total');
      await up.heal();
      await waitLink(tmp.dir, 'online');
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
      expect((await up.countRequests('LIST', 'pods')) - lists).toBe(1);
      expect((await metric(proxy.adminUrl, 'islet_watch_relists_total')) - (relists || 0)).toBe(1);
      // The watch runs on from the list's version.
      await up.adminCreate('pods', podOn('after-relist', up.nodeName, 'web', NS));
      await eventually('events flow after the relist', () => pods.events.includes('add after-relist'));
      expect(sortedNames(pods.informer.list())).toEqual(
        sortedNames(await up.adminList('pods', { fieldSelector: `spec.nodeName=${up.nodeName}` })),
      );
    });

    it('429 with Retry-After while the node is overloaded: the shared watch waits and resumes, no relist', async () => {
      const lists = await up.countRequests('LIST', 'pods');
      const overload = await up.overloadNode();
      try {
        // Break the shared watch: its reopen meets the overload.
        await up.partition('refuse');
        await up.heal();
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
        const get = await httpJson(`${proxy.url}/api/v1/namespaces/${NS}/pods/p0`);
        expect(get.status).toBe(429);
        expect(get.headers.get('retry-after')).toBe('1');
        // kube-apiserver's APF answers in plain text (the simulator in a Status): passed on as sent.
        expect(get.text).toContain('Too many requests, please try again later.');
      } finally {
        await overload.release();
      }
      await up.adminCreate('pods', podOn('after-429', up.nodeName, 'web', NS));
      await eventually(
        'events flow after the 429s',
        () => pods.events.includes('add after-429'),
        Boolean,
        30_000,
      );
      await eventually('raw watcher too', () => raw.names().includes('after-429'));
      expect(await up.countRequests('LIST', 'pods')).toBe(lists);
      expect(pods.lists).toBe(1);
      expect(pods.errors).toEqual([]);
      expect(raw.state()).toBe('open');
    });

    it('restarted offline across a compaction: a new informer lists from disk, and the one relist on reconnect reaches it as events', async () => {
      raw.close();
      await pods.stop();
      await up.partition('refuse');
      await waitLink(tmp.dir, 'offline');
      expect(await proxy.stop()).toBe(0);
      await up.adminCreate('pods', podOn('while-down', up.nodeName, 'web', NS));
      await up.adminDelete('pods', 'p3', NS);
      await up.compact();
      proxy = await up.startProxy(tmp.dir);
      const cached = sortedNames(pods.informer.list());
      pods = nodeInformer(clientNodeConfig(proxy.url), 'pods', up.nodeName);
      await pods.start();
      await eventually('listed from disk', () => JSON.stringify(pods.names()) === JSON.stringify(cached));
      const lists = await up.countRequests('LIST', 'pods');
      await up.heal();
      await waitLink(tmp.dir, 'online');
      await eventually(
        'caught up',
        () => pods.names().includes('while-down') && !pods.names().includes('p3'),
      );
      expect(pods.events).toEqual(expect.arrayContaining(['add while-down', 'delete p3']));
      expect(pods.lists).toBe(1);
      expect(pods.errors).toEqual([]);
      expect((await up.countRequests('LIST', 'pods')) - lists).toBe(1);
    });
  });
});
