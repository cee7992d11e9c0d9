/**
 * The WatchHub with its real neighbours, in one process: the simulator as upstream, the real
 * upstream pool (TLS, probes, link state) and the real SQLite cache store, behind a plain HTTP
 * listener that routes watches to the hub as the proxy's server does. Raw watch clients see the
 * wire exactly. (The end-to-end tests with informers and kubectl run the built binary:
 * sharing.test.ts and reconnect.test.ts.)
 */
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheStore } from '../../proxy/cache/store.js';
import { createLogger } from '../../proxy/log.js';
import { MetricsRegistry } from '../../proxy/metrics.js';
import { parseRequestInfo } from '../../proxy/request-info.js';
import { identityOf } from '../../proxy/serve/identity.js';
import type { KubeList, UpstreamPool, ViewKey } from '../../proxy/types.js';
import { ClientCertSource } from '../../proxy/upstream/client-cert.js';
import { ApiServerPool } from '../../proxy/upstream/pool.js';
import { WatchHub } from '../../proxy/watch/hub.js';
import { eventually, tempDir } from '../proxy/harness.js';
import { type Simulator, startSimulator } from '../sim/index.js';
import { openWatch, type WatchClient } from './watch-client.js';

const pods = { group: '', version: 'v1', resource: 'pods' };
const podView: ViewKey = { identity: 'node', gvr: pods, namespace: '', labelSelector: '', fieldSelector: '' };

function pod(name: string, app = 'web', ns = 'default') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app } },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
  };
}

describe('WatchHub against the simulator', () => {
  let sim: Simulator;
  let tmp: { dir: string; cleanup: () => void };
  let pool: ApiServerPool;
  let store: CacheStore;
  let hub: WatchHub;
  let registry: MetricsRegistry;
  let server: http.Server;
  let base: string;
  const watchers: WatchClient[] = [];
  /** Set by a test: runs on the answer of the hub's next upstream LIST before the hub reads it. */
  let onList: ((res: IncomingMessage) => Promise<void>) | undefined;

  /** What the proxy's server does for an informer's LIST: the answer fills the store's view. */
  function listIntoStore(): string {
    const l = sim.list('pods');
    const list: KubeList = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: String(l.resourceVersion) },
      items: l.items as KubeList['items'],
    };
    store.applyList(podView, list);
    return String(l.resourceVersion);
  }

  async function watch(query: string, path = '/api/v1/pods'): Promise<WatchClient> {
    const w = await openWatch(base, `${path}?watch=1&${query}`);
    watchers.push(w);
    return w;
  }

  /** A watcher from the version of the store's list, once its upstream watch is open; then the link cut. */
  async function watchingThenCut(): Promise<WatchClient> {
    const w = await watch(`resourceVersion=${listIntoStore()}`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    await sim.partition('refuse');
    await eventually('offline', () => !pool.isOnline());
    return w;
  }

  const metric = (name: string, labels = 'resource="pods"') => {
    const line = registry
      .exposition()
      .split('\n')
      .find((l) => l.startsWith(`${name}{${labels}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  beforeAll(async () => {
    tmp = tempDir('islet-watch-hub-');
    sim = await startSimulator({ bookmarkIntervalMs: 200 });
    const cert = await sim.mintClientCert('node-a');
    pool = new ApiServerPool({
      servers: [sim.url],
      ca: Buffer.from(sim.caPem),
      clientCert: new ClientCertSource({ certFile: cert.certPath, keyFile: cert.keyPath }),
      lb: 'priority',
      probeIntervalMs: 100,
      probeTimeoutMs: 500,
      offlineAfter: 2,
      onlineAfter: 2,
      requestTimeoutMs: 3000,
    });
    await pool.start();
  });

  beforeEach(async () => {
    store = new CacheStore({ path: join(tmp.dir, `cache-${Date.now()}-${Math.random()}.db`) });
    registry = new MetricsRegistry();
    onList = undefined;
    const upstream: UpstreamPool = {
      async request(o) {
        const res = await pool.request(o);
        const hook = onList;
        if (hook && o.method === 'GET' && !o.path.includes('watch=')) {
          onList = undefined;
          await hook(res);
        }
        return res;
      },
      isOnline: () => pool.isOnline(),
      onLinkChange: (cb) => pool.onLinkChange(cb),
    };
    hub = new WatchHub({
      store,
      pool: upstream,
      logger: createLogger({ level: process.env.ISLET_TEST_VERBOSE ? 'debug' : 'error' }),
      metrics: registry,
      bookmarkIntervalMs: 200,
      graceMs: 200,
      logMaxEvents: 5,
      backoffBaseMs: 50,
      backoffMaxMs: 500,
      reconnectJitterMs: 50,
    });
    server = http.createServer((req, res) => {
      const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
      hub.serve(req, res, info, identityOf(req));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const p of sim.list('pods').items)
      sim.delete('pods', p.metadata.name!, { namespace: p.metadata.namespace ?? 'default' });
    sim.resetCounters();
  });

  afterEach(async () => {
    for (const w of watchers.splice(0)) w.close();
    await hub.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    store.close();
    if (!pool.isOnline()) {
      await sim.heal();
      await eventually('link online', () => pool.isOnline());
    }
  });

  afterAll(async () => {
    await pool?.close();
    await sim?.close();
    tmp?.cleanup();
  });

  it('shares one upstream watch among local watchers of the same key and fans events out', async () => {
    sim.create('pods', pod('a'));
    const rv = listIntoStore();
    const ws = await Promise.all(Array.from({ length: 10 }, () => watch(`resourceVersion=${rv}`)));
    expect(ws.every((w) => w.status === 200 && w.headers['content-type'] === 'application/json')).toBe(true);
    sim.create('pods', pod('b'));
    await eventually('all saw b', () => ws.every((w) => w.names('ADDED').includes('b')));
    expect(sim.watchCount({ resource: 'pods' })).toEqual({ opened: 1, open: 1 });
    // A different key (a label selector) is a different upstream watch.
    const web = await watch(`resourceVersion=${rv}&labelSelector=app%3Dweb`);
    sim.create('pods', pod('c', 'db'));
    sim.create('pods', pod('d', 'web'));
    await eventually('selector watcher saw d', () => web.names().includes('d'));
    expect(web.names()).not.toContain('c');
    expect(sim.watchCount({ resource: 'pods' }).open).toBe(2);
    expect(metric('islet_watch_local_watchers')).toBe(11);
    expect(metric('islet_watch_upstream_open')).toBe(2);
    expect(
      metric('islet_watch_events_fanned_out_total', 'resource="pods",type="ADDED"'),
    ).toBeGreaterThanOrEqual(31);
    expect(sim.listCount({ resource: 'pods' })).toBe(0);
  });

  it('keeps watchers across an outage and resumes upstream without a LIST', async () => {
    sim.create('pods', pod('a'));
    sim.create('pods', pod('b'));
    const rv = listIntoStore();
    const w = await watch(`resourceVersion=${rv}&allowWatchBookmarks=true`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    await sim.partition('refuse');
    await eventually('offline', () => !pool.isOnline());
    sim.create('pods', pod('c'));
    sim.patch('pods', 'a', { metadata: { labels: { app: 'web', changed: 'yes' } } });
    sim.delete('pods', 'b');
    const bookmarksBefore = w.events.filter((e) => e.type === 'BOOKMARK').length;
    await eventually(
      'bookmarks flow offline',
      () => w.events.filter((e) => e.type === 'BOOKMARK').length > bookmarksBefore + 1,
    );
    await sim.heal();
    await eventually('missed changes delivered', () => w.names('DELETED').includes('b'));
    expect(
      w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name}`),
    ).toEqual(['ADDED c', 'MODIFIED a', 'DELETED b']);
    expect(w.state()).toBe('open');
    expect(sim.listCount({ resource: 'pods' })).toBe(0);
    expect(sim.watchCount({ resource: 'pods' }).opened).toBe(2);
    expect(metric('islet_watch_relists_avoided_total')).toBe(1);
    expect(metric('islet_watch_relists_total')).toBe(0);
  });

  it('a blackholed link (connections hang, streams go silent) is dropped and resumed the same way', async () => {
    sim.create('pods', pod('a'));
    const rv = listIntoStore();
    const w = await watch(`resourceVersion=${rv}`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    await sim.partition('blackhole');
    await eventually('offline', () => !pool.isOnline());
    sim.create('pods', pod('b'));
    sim.delete('pods', 'a');
    await sim.heal();
    await eventually('missed changes delivered', () => w.names('DELETED').includes('a'));
    expect(
      w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name}`),
    ).toEqual(['ADDED b', 'DELETED a']);
    expect(w.state()).toBe('open');
    expect(sim.listCount({ resource: 'pods' })).toBe(0);
  });

  it('after compaction past its version: exactly one LIST, the diff as events, never a 410 locally', async () => {
    for (const n of ['a', 'b', 'c']) sim.create('pods', pod(n));
    const rv = listIntoStore();
    const w1 = await watch(`resourceVersion=${rv}`);
    const w2 = await watch(`resourceVersion=${rv}`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    await sim.partition('refuse');
    await eventually('offline', () => !pool.isOnline());
    sim.create('pods', pod('d'));
    sim.patch('pods', 'a', { metadata: { labels: { app: 'web', v: '2' } } });
    sim.delete('pods', 'b');
    sim.create('pods', pod('e'));
    sim.delete('pods', 'e');
    sim.compact();
    await sim.heal();
    for (const w of [w1, w2]) {
      await eventually(
        'diff delivered',
        () => w.names('DELETED').includes('b') && w.names('ADDED').includes('d'),
      );
      const seen = w.events
        .filter((e) => e.type !== 'BOOKMARK')
        .map((e) => `${e.type} ${e.object.metadata?.name}`);
      expect(seen.sort()).toEqual(['ADDED d', 'DELETED b', 'MODIFIED a']);
      expect(w.state()).toBe('open');
    }
    expect(sim.listCount({ resource: 'pods' })).toBe(1);
    // The watch resumed from the list's version: later changes flow again.
    sim.create('pods', pod('f'));
    await eventually('f after the relist', () => w1.names('ADDED').includes('f'));
    expect(w1.events.some((e) => e.type === 'ERROR')).toBe(false);
    expect(sim.listCount({ resource: 'pods' })).toBe(1);
    expect(metric('islet_watch_relists_total')).toBe(1);
    // Offline reads of the store reflect the relist (b gone, d there).
    expect(store.listObjects(pods, '', '', '').map((o) => o.metadata.name)).toEqual(['a', 'c', 'd', 'f']);
  });

  it('a relist the cache cannot store still reaches watchers as events, and the watch goes on', async () => {
    for (const n of ['a', 'b']) sim.create('pods', pod(n));
    const w = await watchingThenCut();
    sim.delete('pods', 'b');
    sim.create('pods', pod('c'));
    sim.compact();
    // The relist's write fails (a full disk, say) once.
    const applyList = store.applyList.bind(store);
    let writes = 0;
    store.applyList = (view, list) => {
      if (writes++ === 0) throw new Error('database or disk is full');
      applyList(view, list);
    };
    await sim.heal();
    await eventually(
      'diff delivered',
      () => w.names('DELETED').includes('b') && w.names('ADDED').includes('c'),
    );
    sim.create('pods', pod('d'));
    await eventually('d after the relist', () => w.names('ADDED').includes('d'));
    expect(w.events.some((e) => e.type === 'ERROR')).toBe(false);
    expect(writes).toBe(1);
    // What the cache holds missed the relist: it no longer answers offline for the scope.
    expect(store.findCoveringView(podView)).toBeUndefined();
  });

  it('the one relist of a large collection travels compressed', async () => {
    for (let i = 0; i < 800; i++) sim.create('pods', pod(`bulk-${i}`));
    const w = await watchingThenCut();
    sim.delete('pods', 'bulk-7');
    sim.compact();
    await sim.heal();
    await eventually('diff delivered', () => w.names('DELETED').includes('bulk-7'));
    expect(w.events.filter((e) => e.type !== 'BOOKMARK')).toHaveLength(1);
    expect(sim.listCount({ resource: 'pods' })).toBe(1);
    const plain = JSON.stringify(sim.list('pods').items).length;
    expect(sim.bytesSent({ verb: 'list', resource: 'pods' })).toBeLessThan(plain / 3);
  });

  it('offline: a new watcher gets bookmarks and a clean end at its timeout', async () => {
    sim.create('pods', pod('a'));
    const rv = listIntoStore();
    await sim.partition('refuse');
    await eventually('offline', () => !pool.isOnline());
    const w = await watch(`resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=2`);
    expect(w.status).toBe(200);
    expect(await w.ended).toBe('ended');
    const marks = w.events.filter((e) => e.type === 'BOOKMARK');
    expect(marks.length).toBeGreaterThanOrEqual(2);
    expect(marks.every((m) => m.object.kind === 'Pod' && m.object.metadata?.resourceVersion === rv)).toBe(
      true,
    );
    expect(w.events.filter((e) => e.type !== 'BOOKMARK')).toEqual([]);
    // resourceVersion=0 offline: the cached state as ADDED events.
    const zero = await watch('resourceVersion=0&timeoutSeconds=1');
    expect(await zero.ended).toBe('ended');
    expect(zero.names('ADDED')).toEqual(['a']);
  });

  it('replays from the log, and from the store when the log no longer reaches back', async () => {
    sim.create('pods', pod('keep'));
    sim.create('pods', pod('doomed'));
    const rv0 = listIntoStore();
    const first = await watch(`resourceVersion=${rv0}`);
    for (let i = 1; i <= 8; i++) sim.create('pods', pod(`p${i}`));
    sim.patch('pods', 'keep', { metadata: { labels: { app: 'web', touched: 'yes' } } });
    sim.delete('pods', 'doomed');
    await eventually('first saw everything', () => first.names('DELETED').includes('doomed'));
    // Inside the log (5 events kept): exactly the events after the asked version.
    const p7rv = sim.get('pods', 'p7')!.metadata.resourceVersion!;
    const recent = await watch(`resourceVersion=${p7rv}`);
    await eventually('recent replay', () => recent.events.length >= 3);
    expect(recent.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual([
      'ADDED p8',
      'MODIFIED keep',
      'DELETED doomed',
    ]);
    // Older than the log: rebuilt from the store (changes as MODIFIED, deletions as DELETED).
    const old = await watch(`resourceVersion=${rv0}`);
    await eventually('old replay', () => old.events.length >= 10);
    const got = old.events.map((e) => `${e.type} ${e.object.metadata?.name}`);
    expect(got.filter((g) => g.startsWith('MODIFIED')).sort()).toEqual(
      ['keep', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'].map((n) => `MODIFIED ${n}`).sort(),
    );
    expect(got.at(-1)).toBe('DELETED doomed');
    expect(old.events.some((e) => e.type === 'ERROR')).toBe(false);
    // Older than anything the hub knows: 410 Expired as a watch ERROR event, like the API server.
    const tooOld = await watch('resourceVersion=1');
    expect(await tooOld.ended).toBe('ended');
    expect(tooOld.events).toHaveLength(1);
    expect(tooOld.events[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    });
  });

  it('watchers racing in with different versions: the earlier one is served too, no 410', async () => {
    sim.create('pods', pod('a'));
    const rv1 = listIntoStore();
    sim.create('pods', pod('b'));
    const rv2 = listIntoStore();
    const late = await watch(`resourceVersion=${rv2}`);
    const early = await watch(`resourceVersion=${rv1}`);
    await eventually('early watcher got b', () => early.names().includes('b'));
    sim.create('pods', pod('c'));
    await eventually('both got c', () => early.names().includes('c') && late.names().includes('c'));
    expect(early.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED b', 'ADDED c']);
    expect(late.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED c']);
    expect(sim.watchCount({ resource: 'pods' }).open).toBe(1);
  });

  it('delivers changes the node makes itself, with selector semantics', async () => {
    sim.create('pods', pod('a'));
    const rv = listIntoStore();
    const all = await watch(`resourceVersion=${rv}`);
    const web = await watch(`resourceVersion=${rv}&labelSelector=app%3Dweb`);
    await eventually('upstream watches open', () => sim.watchCount({ resource: 'pods' }).open === 2);
    const a = sim.get('pods', 'a')!;
    const moved = {
      ...a,
      metadata: {
        ...a.metadata,
        labels: { app: 'db' },
        resourceVersion: String(Number(a.metadata.resourceVersion) + 1000),
      },
    };
    hub.emitLocal(pods, { type: 'MODIFIED', object: moved as never });
    await eventually('both saw it', () => all.events.length === 1 && web.events.length === 1);
    expect(all.events[0]).toMatchObject({
      type: 'MODIFIED',
      object: { metadata: { labels: { app: 'db' } } },
    });
    // It left the web watcher's selector: DELETED for that watcher, as the API server does.
    expect(web.events[0]).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'a' } } });
    expect(store.getObject(pods, 'default', 'a')?.metadata.labels).toEqual({ app: 'db' });
    // A client that saw a node-made version resumes from the upstream version it was based on.
    const resumed = await watch(`resourceVersion=${rv}-islet-1&timeoutSeconds=1`);
    expect(resumed.status).toBe(200);
    expect(await resumed.ended).toBe('ended');
  });

  it('resourceVersion=0 with nothing cached: one LIST upstream, then ADDED for the state', async () => {
    sim.create('pods', pod('a'));
    sim.create('pods', pod('b'));
    const w = await watch('resourceVersion=0');
    await eventually('initial state', () => w.names('ADDED').length === 2);
    sim.create('pods', pod('c'));
    await eventually('then live', () => w.names('ADDED').includes('c'));
    expect(w.names('ADDED')).toEqual(['a', 'b', 'c']);
    expect(sim.listCount({ resource: 'pods' })).toBe(1);
  });

  it('resourceVersion=0 over several pages of the store: every object once, with its kind, then live', async () => {
    for (let i = 0; i < 250; i++) sim.create('pods', pod(`bulk-${String(i).padStart(3, '0')}`));
    listIntoStore();
    const w = await watch('resourceVersion=0');
    await eventually('initial state', () => w.names('ADDED').length >= 250);
    const added = w.events.filter((e) => e.type === 'ADDED');
    expect(new Set(added.map((e) => e.object.metadata?.name)).size).toBe(250);
    expect(added.every((e) => e.object.kind === 'Pod')).toBe(true);
    sim.create('pods', pod('late'));
    await eventually('then live', () => w.names('ADDED').includes('late'));
    expect(w.names('ADDED').length).toBe(251);
    // Served from the cache's complete view: no LIST upstream.
    expect(sim.listCount({ resource: 'pods' })).toBe(0);
  });

  it('passes an upstream refusal of a new key through, and rejects bad requests', async () => {
    const bad = await watch('resourceVersion=abc');
    expect(bad.status).toBe(400);
    const badSel = await watch('labelSelector=%3D%3D');
    expect(badSel.status).toBe(400);
    // The log holds JSON: a protobuf-only client is told so instead of getting JSON.
    const proto = await openWatch(base, '/api/v1/pods?watch=1', {
      accept: 'application/vnd.kubernetes.protobuf',
    });
    watchers.push(proto);
    expect(proto.status).toBe(406);
    // The simulator does not know this resource: its 404 reaches the client as is.
    const unknown = await watch('resourceVersion=5', '/apis/example.com/v1/widgets');
    expect(unknown.status).toBe(404);
  });

  it('respects 429 Retry-After when reconnecting', async () => {
    sim.create('pods', pod('a'));
    const rv = listIntoStore();
    const w = await watch(`resourceVersion=${rv}`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    sim.throttle(1, 2, { verb: 'watch' });
    const cutAt = Date.now();
    sim.dropWatches();
    await eventually('throttled attempt', () =>
      sim.requests.some((r) => r.verb === 'watch' && r.status === 429),
    );
    await eventually('reconnected', () => sim.watchCount({ resource: 'pods' }).open === 1, Boolean, 20_000);
    const reopened = sim.requests.filter((r) => r.verb === 'watch' && r.status === 200).at(-1)!;
    expect(reopened).toBeDefined();
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(2000);
    sim.create('pods', pod('b'));
    await eventually('events flow again', () => w.names('ADDED').includes('b'));
    expect(w.state()).toBe('open');
  });

  /** Holds the hub's next LIST answer until the test lets it go (or fails it). */
  function holdNextList() {
    let arrived!: () => void;
    let release!: (fail: boolean) => void;
    const hold = {
      arrived: new Promise<void>((r) => {
        arrived = r;
      }),
      release: (fail = false) => release(fail),
    };
    const released = new Promise<boolean>((r) => {
      release = r;
    });
    onList = async (res) => {
      arrived();
      if (await released) {
        res.destroy();
        throw new Error('the held LIST failed');
      }
    };
    return hold;
  }

  it('a resourceVersion=0 watch whose priming LIST fails after an informer watch opened the key gets 503, not an empty state', async () => {
    sim.create('pods', pod('a'));
    sim.create('pods', pod('b'));
    const list = holdNextList();
    const zeroOpening = watch('resourceVersion=0');
    await list.arrived;
    // An informer that listed upstream itself watches the same key while it is being primed.
    const informer = await watch(`resourceVersion=${sim.resourceVersion}`);
    expect(informer.status).toBe(200);
    list.release(true);
    const zero = await zeroOpening;
    // The store holds no complete copy: a 200 here would tell the client the collection is empty.
    expect(zero.status).toBe(503);
    expect(zero.names('ADDED')).toEqual([]);
  });

  it("a priming LIST overtaken by the key's own upstream events keeps what those events deleted", async () => {
    sim.create('pods', pod('a'));
    sim.create('pods', pod('b'));
    const list = holdNextList();
    const zeroOpening = watch('resourceVersion=0');
    await list.arrived; // the list (a and b) is read; its answer waits
    const informer = await watch(`resourceVersion=${sim.resourceVersion}`);
    await eventually('upstream watch open', () => sim.watchCount({ resource: 'pods' }).open === 1);
    sim.delete('pods', 'a');
    await eventually('informer told a is gone', () => informer.names('DELETED').includes('a'));
    list.release();
    const zero = await zeroOpening;
    expect(zero.status).toBe(200);
    await eventually('initial state', () => zero.names('ADDED').includes('b'));
    // Compaction past the hub's version: its relist diffs the list against its index.
    await sim.partition('refuse');
    await eventually('offline', () => !pool.isOnline());
    sim.create('pods', pod('c'));
    sim.compact();
    await sim.heal();
    await eventually(
      'c after the relist',
      () => zero.names('ADDED').includes('c') && informer.names('ADDED').includes('c'),
    );
    // An index from the stale list alone would still hold a and send DELETED a once more.
    expect(zero.names('DELETED')).toEqual([]);
    expect(informer.names('DELETED')).toEqual(['a']);
    expect(zero.names('ADDED').sort()).toEqual(['b', 'c']);
  });
});
