/**
 * BOOKMARKs as the server sends them reach the proxy's shared watch and move its resourceVersion
 * on, so local watchers' bookmarks (and the proxy's own resume point) follow the server even when
 * nothing in the watched scope changes.
 *
 * The real kube-apiserver sends a watcher its first bookmark about a minute after the watch opened
 * (the watch cache's bookmark frequency, not configurable) with the cache's last revision; the
 * pod cache learns about revisions made elsewhere (here a ConfigMap) when a consistent read makes
 * it ask etcd for progress. So on the real server this test waits up to ~80 s; the simulator
 * sends bookmarks every 300 ms.
 */
import { afterAll, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import { eventually, httpJson } from '../proxy/harness.js';
import { openWatch, type WatchClient } from '../watch/watch-client.js';
import { describeOnUpstreams, proxyOnUpstream } from './suite.js';

const NS = 'marks';
const REAL_BOOKMARK_WAIT_MS = 100_000;

describeOnUpstreams('server bookmarks through the shared watch', (c) => {
  const rig = proxyOnUpstream(c, {
    prefix: 'islet-upstream-marks-',
    seed: async (up) => {
      await up.ensureNamespace(NS);
      await up.adminCreate('pods', podOn('p0', up.nodeName, 'web', NS));
    },
  });
  let watch: WatchClient;

  afterAll(() => watch?.close());

  it(
    'a revision made outside the scope shows in local bookmarks once the server bookmarks it',
    async () => {
      const kubelet = `/api/v1/pods?fieldSelector=spec.nodeName%3D${rig.up.nodeName}`;
      const list = await httpJson(`${rig.proxy.url}${kubelet}`);
      expect(list.status).toBe(200);
      const listRv = BigInt(
        (list.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
      );
      watch = await openWatch(
        rig.proxy.url,
        `${kubelet}&watch=1&allowWatchBookmarks=true&resourceVersion=${listRv}`,
      );
      expect(watch.status).toBe(200);
      // A change elsewhere in the cluster: a revision past anything in the node's pod scope.
      const cm = await rig.up.adminCreate('configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'tick', namespace: NS },
      });
      const tick = BigInt(cm.metadata.resourceVersion);
      expect(tick).toBeGreaterThan(listRv);
      // A consistent read of pods makes the real server's pod cache catch up to etcd's revision.
      await rig.up.adminList('pods', { namespace: NS });
      const marks = () =>
        watch.events
          .filter((e) => e.type === 'BOOKMARK')
          .map((e) => BigInt(e.object.metadata?.resourceVersion ?? '0'));
      await eventually(
        'a local bookmark at or past the ConfigMap revision',
        () => marks().some((rv) => rv >= tick),
        Boolean,
        rig.up.kind === 'real' ? REAL_BOOKMARK_WAIT_MS : 20_000,
      );
      // Nothing in scope changed: only bookmarks reached the watcher, never an ERROR.
      expect(watch.events.every((e) => e.type === 'BOOKMARK')).toBe(true);
      expect(watch.state()).toBe('open');
    },
    REAL_BOOKMARK_WAIT_MS + 30_000,
  );
});
