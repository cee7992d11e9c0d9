/**
 * WatchList (client-go's WatchListClient: sendInitialEvents=true, resourceVersionMatch=NotOlderThan,
 * allowWatchBookmarks=true) through `dist/islet proxy` against the real kube-apiserver: the initial
 * ADDED events and the closing BOOKMARK (annotated k8s.io/initial-events-end) have the shape the
 * real server gives them, online and offline after a restart.
 */
import { beforeAll, expect, it } from 'vitest';
import { type ClientAuth, type RawWatch, rawWatch, type WatchEventLine } from '../sim/client.js';
import { describeOnControlPlane, proxyOnControlPlane } from './suite.js';

/** Events up to and including the bookmark that ends the initial events. */
async function initialEvents(w: RawWatch): Promise<WatchEventLine[]> {
  const out: WatchEventLine[] = [];
  for (;;) {
    const ev = await w.next(20_000);
    if (!ev) throw new Error(`stream ended or stalled after ${JSON.stringify(out)}`);
    out.push(ev);
    if (ev.type === 'BOOKMARK' && ev.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true')
      return out;
    if (ev.type === 'ERROR') throw new Error(`watch failed: ${JSON.stringify(ev.object)}`);
  }
}

describeOnControlPlane('WatchList through the proxy against the real API server', () => {
  const rig = proxyOnControlPlane({ prefix: 'islet-watchlist-' });
  const ns = `wl-${process.pid}`;
  const node = (): ClientAuth => ({ ca: rig.cp.pki.caPem, cert: rig.cp.nodeCert });
  const path = (rv = '') =>
    `/api/v1/pods?fieldSelector=spec.nodeName%3D${rig.cp.nodeName}&watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${rv}`;
  const pod = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { nodeName: rig.cp.nodeName, containers: [{ name: 'c', image: 'registry.invalid/none:1' }] },
  });

  beforeAll(async () => {
    await rig.cp.ensureNamespace(ns);
    for (const n of ['a', 'b']) await rig.cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod(n));
  });

  /** An event with the bookmark's resourceVersion masked: versions differ by when each was read. */
  const shape = (ev: WatchEventLine) =>
    ev.type === 'BOOKMARK'
      ? JSON.stringify({
          ...ev,
          object: { ...ev.object, metadata: { ...ev.object.metadata, resourceVersion: 'RV' } },
        })
      : JSON.stringify(ev);
  const names = (evs: WatchEventLine[]) =>
    evs.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name as string);

  it('sends the initial events and the initial-events-end bookmark as the API server does, online and offline', async () => {
    const direct = rawWatch(rig.cp.url, node(), path());
    const want = await initialEvents(direct);
    const proxy = await rig.restartProxy('online');
    const online = rawWatch(proxy.url, {}, path());
    const got = await initialEvents(online);
    expect(names(want)).toEqual(['a', 'b']);
    expect(got.map(shape)).toEqual(want.map(shape));
    // The bookmark's object is an empty Pod as the server encodes it: kind, apiVersion, metadata
    // with resourceVersion and the annotation only, then the Pod type's empty spec and status.
    const bookmark = got.at(-1)!;
    expect(Object.keys(bookmark.object)).toEqual(Object.keys(want.at(-1)!.object));
    expect(Object.keys(bookmark.object.metadata)).toEqual(['resourceVersion', 'annotations']);
    const lastAdded = BigInt(got.at(-2)!.object.metadata.resourceVersion);
    expect(BigInt(bookmark.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(lastAdded);

    // Then live: a new pod reaches both streams as the same ADDED event.
    await rig.cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod('c'));
    const liveDirect = await direct.nextChange(20_000);
    const liveProxy = await online.nextChange(20_000);
    expect(liveDirect?.type).toBe('ADDED');
    expect(liveProxy).toEqual(liveDirect);
    direct.close();
    online.close();

    // Offline after a restart: the cached pods, then the same bookmark, from the cache.
    const restarted = await rig.restartProxy('offline');
    const offline = rawWatch(restarted.url, {}, path());
    const cached = await initialEvents(offline);
    expect(names(cached)).toEqual(['a', 'b', 'c']);
    expect(shape(cached.at(-1)!)).toBe(shape(want.at(-1)!));
    expect(BigInt(cached.at(-1)!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      BigInt(liveDirect!.object.metadata.resourceVersion),
    );
    // Back online the same stream goes on live.
    await rig.cp.heal();
    await rig.cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod('d'));
    const resumed = await offline.nextChange(30_000);
    expect(resumed?.type).toBe('ADDED');
    expect(resumed?.object.metadata.name).toBe('d');
    offline.close();
  });
});
