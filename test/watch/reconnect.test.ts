/**
 * Offline watches and storm-free reconnect, through the built proxy with client-node informers,
 * `kubectl get -w` and raw watch clients:
 *  - link down 30 s while the simulator changes objects (it keeps running; only the proxy's link
 *    is cut), then back: informers get the missed changes as events, no local client relists,
 *    upstream sees 0 LISTs; with compaction forced past the proxy's version, exactly 1 LIST per
 *    key upstream and still no 410 and no relist locally.
 *  - offline: a watcher opened during the outage gets BOOKMARKs and a clean end at its timeout;
 *    a watcher with an old resourceVersion gets exactly the changes after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientNodeConfig, eventually } from '../proxy/harness.js';
import {
  type Env,
  type KubectlWatch,
  kubectlWatch,
  metricValue,
  pod,
  proxyRequests,
  simState,
  sleep,
  slice,
  slices,
  startEnv,
  type TrackedInformer,
  trackInformer,
  waitLink,
} from './e2e.js';
import { openWatch } from './watch-client.js';

const OUTAGE_MS = Number(process.env.ISLET_TEST_OUTAGE_MS ?? 30_000);

describe('offline watch and storm-free reconnect through the built proxy', () => {
  let env: Env;
  let kubectl: KubectlWatch;
  const pods: TrackedInformer[] = [];
  const eps: TrackedInformer[] = [];
  const all = () => [...pods, ...eps];
  let listsAtStart = 0;

  async function synced(): Promise<void> {
    await eventually(
      'informers hold what the simulator holds',
      () =>
        pods.every((i) => same(i.state(), simState(env.sim, 'pods'))) &&
        eps.every((i) => same(i.state(), simState(env.sim, 'endpointslices'))),
      Boolean,
      30_000,
    );
  }

  beforeAll(async () => {
    env = await startEnv('islet-watch-reconnect-');
    for (let i = 0; i < 10; i++) env.sim.create('pods', pod(`p${i}`));
    for (let i = 0; i < 5; i++) env.sim.create(slices, slice(`svc${i}-a`, `10.0.0.${i + 1}`));
    const kc = clientNodeConfig(env.proxy.url);
    for (let i = 0; i < 5; i++) pods.push(trackInformer(kc, 'pods'));
    for (let i = 0; i < 5; i++) eps.push(trackInformer(kc, 'endpointslices'));
    await Promise.all(all().map((i) => i.informer.start()));
    await synced();
    kubectl = kubectlWatch(env, ['pods', '-A', '-o', 'name']);
    await eventually(
      'kubectl -w listed',
      () => kubectl.out(),
      (o) => o.includes('pod/p9'),
    );
    // From here on, any LIST a local client sends the proxy is a relist.
    listsAtStart = await proxyRequests(env.proxy, 'list');
  });

  afterAll(async () => {
    if (process.env.ISLET_TEST_VERBOSE) process.stderr.write(`${env?.proxy.logs.join('\n')}\n`);
    kubectl?.stop();
    await Promise.all(all().map((i) => i.informer.stop()));
    await env?.cleanup();
  });

  async function noLocalRelist(): Promise<void> {
    expect(all().map((i) => i.lists)).toEqual(all().map(() => 1));
    expect(all().flatMap((i) => i.errors)).toEqual([]);
    expect(await proxyRequests(env.proxy, 'list')).toBe(listsAtStart);
    expect(kubectl.proc.exitCode).toBeNull();
  }

  it(
    'link down 30 s with changes upstream: events delivered after, no relist anywhere',
    async () => {
      env.sim.resetCounters();
      await env.sim.partition('refuse');
      await waitLink(env, 'offline');
      const start = Date.now();
      // The simulator keeps changing while the proxy cannot see it.
      env.sim.create('pods', pod('during-1'));
      env.sim.patch('pods', 'p1', { metadata: { labels: { app: 'web', rev: '2' } } });
      env.sim.delete('pods', 'p2');
      env.sim.create(slices, slice('svcnew-a', '10.0.9.9'));
      env.sim.delete(slices, 'svc0-a');
      await sleep(OUTAGE_MS / 2);
      env.sim.create('pods', pod('during-2'));
      env.sim.patch(slices, 'svc1-a', { endpoints: [{ addresses: ['10.0.7.7'] }] });
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - start)));
      // Offline for the whole outage: nothing of it reached the informers.
      for (const i of pods) expect(i.events).not.toContain('add during-1');

      await env.sim.heal();
      await waitLink(env, 'online');
      await synced();
      for (const i of pods) {
        expect(i.events).toEqual(
          expect.arrayContaining(['add during-1', 'update p1', 'delete p2', 'add during-2']),
        );
      }
      for (const i of eps) {
        expect(i.events).toEqual(expect.arrayContaining(['add svcnew-a', 'delete svc0-a', 'update svc1-a']));
      }
      await eventually(
        'kubectl -w saw the changes',
        () => kubectl.out(),
        (o) => o.includes('pod/during-2'),
      );
      await noLocalRelist();
      // Upstream: the watches resumed from their resourceVersion; not a single LIST.
      expect(env.sim.listCount({ resource: 'pods' })).toBe(0);
      expect(env.sim.listCount({ resource: 'endpointslices' })).toBe(0);
      expect(env.sim.watchCount({ resource: 'pods', namespace: '' }).open).toBe(1);
      expect(env.sim.watchCount({ resource: 'endpointslices', namespace: '' }).open).toBe(1);
      expect(await metricValue(env.proxy, 'islet_watch_relists_total', 'resource="pods"')).toBe(0);
      expect(
        await metricValue(env.proxy, 'islet_watch_relists_avoided_total', 'resource="pods"'),
      ).toBeGreaterThan(0);
    },
    OUTAGE_MS + 90_000,
  );

  it('compaction past the proxy’s version: exactly one LIST per key upstream, still no 410 locally', async () => {
    env.sim.resetCounters();
    await env.sim.partition('refuse');
    await waitLink(env, 'offline');
    env.sim.create('pods', pod('after-compact'));
    env.sim.delete('pods', 'p3');
    env.sim.patch('pods', 'p4', { metadata: { labels: { app: 'db' } } });
    env.sim.delete(slices, 'svc2-a');
    env.sim.create(slices, slice('svcc-a', '10.0.8.8'));
    env.sim.compact();
    // An outage that goes on past the compaction (as the 30 s one above goes on past its
    // changes): the time passing offline is part of the scenario, not a wait for something.
    await sleep(3000);
    await env.sim.heal();
    await waitLink(env, 'online');
    await synced();
    for (const i of pods)
      expect(i.events).toEqual(expect.arrayContaining(['add after-compact', 'delete p3', 'update p4']));
    for (const i of eps) expect(i.events).toEqual(expect.arrayContaining(['delete svc2-a', 'add svcc-a']));
    await eventually(
      'kubectl -w saw the new pod',
      () => kubectl.out(),
      (o) => o.includes('pod/after-compact'),
    );
    await noLocalRelist();
    expect(env.sim.listCount({ resource: 'pods', namespace: '' })).toBe(1);
    expect(env.sim.listCount({ resource: 'endpointslices', namespace: '' })).toBe(1);
    // …and the watches run again from the list's version.
    env.sim.create('pods', pod('after-relist'));
    await eventually('events flow after the relist', () =>
      pods.every((i) => i.events.includes('add after-relist')),
    );
    expect(env.sim.listCount({ resource: 'pods' })).toBe(1);
  }, 90_000);

  it('offline: bookmarks and a clean end at timeout for a new watcher; an old resourceVersion replays', async () => {
    const before = pods[0]!.resourceVersion();
    env.sim.create('pods', pod('replayed'));
    env.sim.patch('pods', 'p5', { metadata: { labels: { app: 'web', rev: '3' } } });
    env.sim.delete('pods', 'p6');
    await synced();
    const head = pods[0]!.resourceVersion();

    await env.sim.partition('refuse');
    await waitLink(env, 'offline');
    const fresh = await openWatch(
      env.proxy.url,
      `/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=${head}`,
    );
    const old = await openWatch(
      env.proxy.url,
      `/api/v1/pods?watch=1&timeoutSeconds=2&resourceVersion=${before}`,
    );
    expect([fresh.status, old.status]).toEqual([200, 200]);
    expect(await fresh.ended).toBe('ended');
    const marks = fresh.events.filter((e) => e.type === 'BOOKMARK');
    expect(marks.length).toBeGreaterThanOrEqual(2);
    expect(
      marks.every(
        (m) => m.object.kind === 'Pod' && Number(m.object.metadata?.resourceVersion) >= Number(head),
      ),
    ).toBe(true);
    expect(fresh.events.filter((e) => e.type !== 'BOOKMARK')).toEqual([]);

    expect(await old.ended).toBe('ended');
    expect(old.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual([
      'ADDED replayed',
      'MODIFIED p5',
      'DELETED p6',
    ]);
    await env.sim.heal();
    await waitLink(env, 'online');
  });
});

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
