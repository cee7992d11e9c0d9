/**
 * WatchList (client-go's WatchListClient: sendInitialEvents=true, resourceVersionMatch=NotOlderThan,
 * allowWatchBookmarks=true) through `dist/islet proxy` against the real kube-apiserver: the initial
 * ADDED events and the closing BOOKMARK (annotated k8s.io/initial-events-end) have the shape the
 * real server gives them, online and offline after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localArgs, type RunningProxy, startProxy, tempDir } from '../proxy/harness.js';
import { type ClientAuth, type RawWatch, rawWatch, type WatchEventLine } from '../sim/client.js';
import {
  type ControlPlane,
  controlPlaneMissing,
  nodeUpstreamArgs,
  startControlPlane,
} from './control-plane.js';

const missing = controlPlaneMissing();
if (missing) console.warn(`skipping proxy WatchList tests against the real API server: ${missing}`);

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

describe.skipIf(missing)('WatchList through the proxy against the real API server', () => {
  let cp: ControlPlane;
  let proxy: RunningProxy | undefined;
  const tmp = tempDir('islet-watchlist-');
  const ns = `wl-${process.pid}`;
  const node = (): ClientAuth => ({ ca: cp.pki.caPem, cert: cp.nodeCert });
  const proxyArgs = () => [...nodeUpstreamArgs(cp), ...localArgs(tmp.dir)];
  const path = (rv = '') =>
    `/api/v1/pods?fieldSelector=spec.nodeName%3D${cp.nodeName}&watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${rv}`;
  const pod = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { nodeName: cp.nodeName, containers: [{ name: 'c', image: 'registry.invalid/none:1' }] },
  });

  beforeAll(async () => {
    cp = await startControlPlane();
    await cp.ensureNamespace(ns);
    for (const n of ['a', 'b']) await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod(n));
  });
  afterAll(async () => {
    await proxy?.kill();
    await cp?.close();
    tmp.cleanup();
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
    const direct = rawWatch(cp.url, node(), path());
    const want = await initialEvents(direct);
    proxy = await startProxy(proxyArgs());
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
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod('c'));
    const liveDirect = await direct.nextChange(20_000);
    const liveProxy = await online.nextChange(20_000);
    expect(liveDirect?.type).toBe('ADDED');
    expect(liveProxy).toEqual(liveDirect);
    direct.close();
    online.close();

    // Offline after a restart: the cached pods, then the same bookmark, from the cache.
    await proxy.stop();
    await cp.partition('refuse');
    proxy = await startProxy(proxyArgs());
    const offline = rawWatch(proxy.url, {}, path());
    const cached = await initialEvents(offline);
    expect(names(cached)).toEqual(['a', 'b', 'c']);
    expect(shape(cached.at(-1)!)).toBe(shape(want.at(-1)!));
    expect(BigInt(cached.at(-1)!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      BigInt(liveDirect!.object.metadata.resourceVersion),
    );
    // Back online the same stream goes on live.
    await cp.heal();
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod('d'));
    const resumed = await offline.nextChange(30_000);
    expect(resumed?.type).toBe('ADDED');
    expect(resumed?.object.metadata.name).toBe('d');
    offline.close();
  });
});
