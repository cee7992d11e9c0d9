/**
 * What an offline answer promises a client that then watches: the resourceVersion of an offline
 * LIST, and the start of a `resourceVersion=0` watch served from the cache, are versions up to
 * which the proxy has seen every change of that scope. Two namespaces through the built proxy: one
 * watched (its stream and bookmarks move the resource's newest version on), one only listed, and
 * changed upstream meanwhile. Offline, a client lists and watches the lagging one; back online, it
 * must get the change made there before the link went down, not only later ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpJson } from '../proxy/harness.js';
import { type Env, pod, startEnv, waitLink } from './e2e.js';
import { openWatch, type SeenEvent, type WatchClient } from './watch-client.js';

type PodList = { metadata: { resourceVersion: string }; items: unknown[] };

const seen = (w: WatchClient, name: string, rv: string) =>
  w.events.some(
    (e: SeenEvent) =>
      e.type === 'MODIFIED' && e.object.metadata?.name === name && e.object.metadata.resourceVersion === rv,
  );

describe('offline answers resume from what their scope has seen', () => {
  let env: Env;
  const watches: WatchClient[] = [];

  beforeAll(async () => {
    env = await startEnv('islet-watch-offline-resume-');
    env.sim.create('pods', pod('a-1', 'web', 'ns-a'));
    env.sim.create('pods', pod('a-2', 'web', 'ns-a'));
    env.sim.create('pods', pod('b-1', 'web', 'ns-b'));
  });

  afterAll(async () => {
    for (const w of watches) w.close();
    await env?.cleanup();
  });

  const rv = (o: { metadata: { resourceVersion?: string } }) => o.metadata.resourceVersion!;

  it('a LIST and a resourceVersion=0 watch of the lagging namespace, then the link back: no change lost', async () => {
    const url = env.proxy.url;
    // Online: ns-a is listed (the cache holds it complete at that version), ns-b listed and watched.
    expect((await httpJson(`${url}/api/v1/namespaces/ns-a/pods`)).status).toBe(200);
    const listB = (await httpJson(`${url}/api/v1/namespaces/ns-b/pods`)).body as PodList;
    const watchB = await openWatch(
      url,
      `/api/v1/namespaces/ns-b/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${listB.metadata.resourceVersion}`,
    );
    watches.push(watchB);

    // ns-a changes upstream, unseen: nothing watches it. a-2's newer version is read by a GET.
    const a1 = rv(
      env.sim.patch('pods', 'a-1', { metadata: { labels: { rev: '1' } } }, { namespace: 'ns-a' }),
    );
    const a2 = rv(
      env.sim.patch('pods', 'a-2', { metadata: { labels: { rev: '1' } } }, { namespace: 'ns-a' }),
    );
    const got = await httpJson(`${url}/api/v1/namespaces/ns-a/pods/a-2`);
    expect(rv(got.body as { metadata: { resourceVersion?: string } })).toBe(a2);
    // ns-b changes later, and its stream brings that into the cache.
    const b1 = rv(
      env.sim.patch('pods', 'b-1', { metadata: { labels: { rev: '1' } } }, { namespace: 'ns-b' }),
    );
    await eventually('the ns-b watch saw its change', () => seen(watchB, 'b-1', b1));

    await env.sim.partition('refuse');
    await waitLink(env, 'offline');
    // Offline, a client lists ns-a and watches from the list's version ...
    const listA = await eventually(
      'offline LIST of ns-a',
      () => httpJson(`${url}/api/v1/namespaces/ns-a/pods`),
      (r) => r.status === 200,
    );
    const fromList = await openWatch(
      url,
      `/api/v1/namespaces/ns-a/pods?watch=1&resourceVersion=${(listA.body as PodList).metadata.resourceVersion}`,
    );
    // ... and another watches part of it from its current state, which the cache serves.
    const fromState = await openWatch(url, '/api/v1/namespaces/ns-a/pods?watch=1&labelSelector=app%3Dweb');
    watches.push(fromList, fromState);
    expect([fromList.status, fromState.status]).toEqual([200, 200]);
    await eventually('the initial state', () => fromState.names('ADDED').length === 2);

    await env.sim.heal();
    await waitLink(env, 'online');
    const a2again = rv(
      env.sim.patch('pods', 'a-2', { metadata: { labels: { rev: '2' } } }, { namespace: 'ns-a' }),
    );
    await eventually('both watchers got the change made after the link came back', () =>
      [fromList, fromState].every((w) => seen(w, 'a-2', a2again)),
    );
    // Upstream streams are ordered: the earlier change was delivered before it, or never.
    expect(seen(fromList, 'a-1', a1)).toBe(true);
    expect(seen(fromState, 'a-1', a1)).toBe(true);
  });
});
