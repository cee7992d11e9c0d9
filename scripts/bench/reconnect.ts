/**
 * Reconnect cost after an outage: 10 client-node informers × 5 resources, 1,000 objects per
 * resource, a 60 s outage during which the API server keeps changing objects, then recovery.
 * Measured from the moment the link heals until every informer holds the server's state again:
 * upstream API requests (health probes excluded), LISTs, watches and bytes, for
 *   islet:  the informers talk to `dist/islet proxy`, which talks to the API server;
 *   direct: the same informers talk to the API server (restarted after errors, as controllers do).
 * Two rounds each: resourceVersions still valid, and compaction forced past them during the outage.
 *
 * Upstreams (--upstream, or ISLET_BENCH_UPSTREAM):
 *   sim   the simulator (default); counts are its own, bytes are response bodies.
 *   real  etcd + kube-apiserver from the pinned build (test/k8s/control-plane.ts) with
 *         --watch-cache=false, so the compaction is etcd's and answers real 410s; the link is the
 *         relay in front of it. Requests are counted by the API server itself
 *         (apiserver_request_total by verb, which counts a WATCH when it ends; "open watches" is
 *         apiserver_longrunning_requests after the round), bytes are what the relay carried
 *         towards the clients (TLS, probes included). The informers' identity is a reader with
 *         RBAC list/watch on the five resources (a node's own certificate may not list them).
 *
 *   npm run bench:reconnect                   (builds dist/islet first)
 *   npm run bench:reconnect -- --outage 10 --objects 200 --informers 4 --changes 30
 *   npm run bench:reconnect -- --upstream real
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseFlags } from '../../lib/args.js';
import { type ControlPlane, controlPlaneMissing } from '../../test/k8s/control-plane.js';
import { eventually, type RunningProxy, startProxy, tempDir } from '../../test/proxy/harness.js';
import { type Simulator, startSimulator } from '../../test/sim/index.js';
import { type CertFiles, mintClientCert } from '../../test/sim/pki.js';
import {
  type Resource as RestResource,
  startRealUpstream,
  type TestUpstream,
} from '../../test/upstream/upstream.js';

type Obj = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } };

interface Resource {
  /** Its name in the REST API (test/upstream). */
  rest: RestResource;
  ref: string | { group: string; resource: string };
  label: string;
  path: string;
  list: (kc: k8s.KubeConfig) => () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
  make: (name: string) => Record<string, unknown>;
}

const NS = 'bench';

const resources: Resource[] = [
  {
    ref: 'pods',
    label: 'pods',
    rest: 'pods',
    path: '/api/v1/pods',
    list: (kc) => () => kc.makeApiClient(k8s.CoreV1Api).listPodForAllNamespaces() as never,
    make: (name) => ({
      metadata: { name, namespace: NS, labels: { app: name.slice(0, 6) } },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'registry.example/app:1.0' }] },
    }),
  },
  {
    ref: 'services',
    label: 'services',
    rest: 'services',
    path: '/api/v1/services',
    list: (kc) => () => kc.makeApiClient(k8s.CoreV1Api).listServiceForAllNamespaces() as never,
    make: (name) => ({
      metadata: { name, namespace: NS, labels: { app: name.slice(0, 6) } },
      spec: { ports: [{ port: 80, targetPort: 8080 }], selector: { app: name } },
    }),
  },
  {
    ref: 'configmaps',
    label: 'configmaps',
    rest: 'configmaps',
    path: '/api/v1/configmaps',
    list: (kc) => () => kc.makeApiClient(k8s.CoreV1Api).listConfigMapForAllNamespaces() as never,
    make: (name) => ({ metadata: { name, namespace: NS }, data: { config: `key=${name}\nlevel=info\n` } }),
  },
  {
    ref: 'endpoints',
    label: 'endpoints',
    rest: 'endpoints',
    path: '/api/v1/endpoints',
    list: (kc) => () => kc.makeApiClient(k8s.CoreV1Api).listEndpointsForAllNamespaces() as never,
    make: (name) => ({
      metadata: { name, namespace: NS },
      subsets: [{ addresses: [{ ip: '10.244.1.7' }], ports: [{ port: 8080 }] }],
    }),
  },
  {
    ref: { group: 'discovery.k8s.io', resource: 'endpointslices' },
    label: 'endpointslices',
    rest: 'endpointslices',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    list: (kc) => () => kc.makeApiClient(k8s.DiscoveryV1Api).listEndpointSliceForAllNamespaces() as never,
    make: (name) => ({
      metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.7'] }],
      ports: [{ port: 8080 }],
    }),
  },
];

interface Informer {
  res: Resource;
  lw: k8s.ListWatch<k8s.KubernetesObject>;
  lists: number;
  errors: number;
}

function state(items: readonly Obj[]): string {
  return items
    .map((o) => `${o.metadata?.namespace}/${o.metadata?.name}@${o.metadata?.resourceVersion}`)
    .sort()
    .join(',');
}

function startInformers(kc: k8s.KubeConfig, perResource: number): Informer[] {
  const out: Informer[] = [];
  for (const res of resources) {
    for (let i = 0; i < perResource; i++) {
      const inf: Informer = { res, lw: undefined as never, lists: 0, errors: 0 };
      const list = res.list(kc);
      inf.lw = k8s.makeInformer(kc, res.path, () => {
        inf.lists++;
        return list();
      }) as unknown as k8s.ListWatch<k8s.KubernetesObject>;
      let stopped = false;
      // Controllers built on client-node restart an informer after an error; so do we.
      inf.lw.on('error', () => {
        inf.errors++;
        if (!stopped) setTimeout(() => void inf.lw.start().catch(() => {}), 1000);
      });
      const stop = inf.lw.stop.bind(inf.lw);
      inf.lw.stop = async () => {
        stopped = true;
        await stop();
      };
      out.push(inf);
    }
  }
  return out;
}

interface Traffic {
  requests: number;
  lists: number;
  watches: number;
  bytes: number;
}

/** The API server under test: its state (bypassing the link), its link, and its own counts. */
interface BenchCluster {
  kind: 'sim' | 'real';
  url: string;
  caPath: string;
  /** The informers' identity (through the proxy or direct). */
  cert: CertFiles;
  create(r: Resource, obj: Record<string, unknown>): Promise<void>;
  names(r: Resource): Promise<string[]>;
  /** What each resource holds, as informers would see it. */
  truth(): Promise<Map<string, string>>;
  remove(r: Resource, name: string): Promise<void>;
  label(r: Resource, name: string, labels: Record<string, string>): Promise<void>;
  partition(): Promise<void>;
  heal(): Promise<void>;
  compact(): Promise<void>;
  /** Start counting the traffic of a round. */
  mark(): Promise<void>;
  /** Traffic since mark(). */
  traffic(): Promise<Traffic>;
  /** Open watches right now ('' when the server cannot tell). */
  openWatches(): Promise<string>;
  close(): Promise<void>;
}

const probePaths = ['/readyz', '/healthz', '/livez'];

async function simCluster(): Promise<BenchCluster> {
  const sim: Simulator = await startSimulator({ bookmarkIntervalMs: 1000, requestLogLimit: 100_000 });
  const cert = await sim.mintClientCert('node-a');
  return {
    kind: 'sim',
    url: sim.url,
    caPath: sim.caPath,
    cert,
    async create(r, obj) {
      sim.create(r.ref, obj as never);
    },
    async names(r) {
      return sim.list(r.ref, { namespace: NS }).items.map((o) => o.metadata.name!);
    },
    async truth() {
      return new Map(resources.map((r) => [r.label, state(sim.list(r.ref).items as Obj[])]));
    },
    async remove(r, name) {
      sim.delete(r.ref, name, { namespace: NS });
    },
    async label(r, name, labels) {
      sim.patch(r.ref, name, { metadata: { labels } }, { namespace: NS });
    },
    partition: () => sim.partition('refuse'),
    heal: () => sim.heal(),
    async compact() {
      sim.compact();
    },
    async mark() {
      sim.resetCounters();
    },
    async traffic() {
      const probes = probePaths.reduce((n, path) => n + sim.requestCount({ path }), 0);
      const probeBytes = probePaths.reduce((n, path) => n + sim.bytesSent({ path }), 0);
      return {
        requests: sim.requestCount() - probes,
        lists: sim.requestCount({ verb: 'list' }),
        watches: sim.requestCount({ verb: 'watch' }),
        bytes: sim.bytesSent() - probeBytes,
      };
    },
    async openWatches() {
      return String(resources.reduce((n, r) => n + sim.watchCount({ resource: r.label }).open, 0));
    },
    close: () => sim.close(),
  };
}

/** apiserver_longrunning_requests summed for verb WATCH. */
async function openWatchesOf(cp: ControlPlane): Promise<number> {
  const text = (await cp.admin.request('GET', '/metrics')).body.toString();
  return text
    .split('\n')
    .filter((l) => l.startsWith('apiserver_longrunning_requests{') && l.includes('verb="WATCH"'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

async function realCluster(): Promise<BenchCluster> {
  const why = controlPlaneMissing();
  if (why) throw new Error(why);
  const up: TestUpstream & { cp: ControlPlane } = await startRealUpstream({ history: 'etcd' });
  const { cp } = up;
  try {
    await up.ensureNamespace(NS);
    // A node-local reader: list/watch on the five resources through RBAC (system:node may not).
    const reader = await mintClientCert(cp.pki, '', { cn: 'islet-bench-reader', o: ['islet-bench'] });
    await cp.admin.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'islet-bench-reader' },
      rules: [
        {
          apiGroups: [''],
          resources: ['pods', 'services', 'configmaps', 'endpoints'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    await cp.admin.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'islet-bench-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'islet-bench-reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'islet-bench' }],
    });
    let before = new Map<string, number>();
    let bytesBefore = 0;
    let openBefore = 0;
    // The API server's own informers watch too (many more with the watch cache off).
    const ownWatches = await openWatchesOf(cp);
    const sum = (m: Map<string, number>, pred: (k: string) => boolean) =>
      [...m].filter(([k]) => pred(k)).reduce((n, [, v]) => n + v, 0);
    return {
      kind: 'real',
      url: up.url,
      caPath: up.caPath,
      cert: reader,
      async create(r, obj) {
        await up.adminCreate(r.rest, { ...obj, metadata: { ...(obj.metadata as object), namespace: NS } });
      },
      async names(r) {
        return (await up.adminList(r.rest, { namespace: NS })).map((o: Obj) => o.metadata!.name!);
      },
      async truth() {
        const out = new Map<string, string>();
        for (const r of resources) out.set(r.label, state(await up.adminList(r.rest)));
        return out;
      },
      remove: (r, name) => up.adminDelete(r.rest, name, NS),
      async label(r, name, labels) {
        await up.adminPatch(r.rest, name, { metadata: { labels } }, { namespace: NS });
      },
      partition: () => up.partition('refuse'),
      heal: () => up.heal(),
      compact: () => up.compact(),
      async mark() {
        before = await cp.requestCounts();
        bytesBefore = cp.relay.bytesDown;
        openBefore = await openWatchesOf(cp);
      },
      async traffic() {
        const after = await cp.requestCounts();
        const d = new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number]));
        if (process.env.ISLET_BENCH_VERBOSE)
          console.log(
            [...d]
              .filter(([, v]) => v > 0)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', '),
          );
        // Keys are "VERB resource[/sub]"; non-resource requests (probes: "GET //readyz", /metrics)
        // have no resource. A WATCH is counted when it ends: opened = ended + open now that were not.
        const isResource = (k: string) => !/^\S+ (\/|$)/.test(k);
        const watches = sum(d, (k) => k.startsWith('WATCH ')) + (await openWatchesOf(cp)) - openBefore;
        return {
          requests: sum(d, (k) => isResource(k) && !k.startsWith('WATCH ')) + watches,
          lists: sum(d, (k) => k.startsWith('LIST ')),
          watches,
          bytes: cp.relay.bytesDown - bytesBefore,
        };
      },
      async openWatches() {
        return String((await openWatchesOf(cp)) - ownWatches);
      },
      close: () => up.close(),
    };
  } catch (err) {
    await up.close();
    throw err;
  }
}

/** Up to `n` calls of `fn` at a time over `items`. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function inSync(truth: Map<string, string>, informers: Informer[]): Promise<void> {
  await eventually(
    'informers hold the server state',
    () => informers.every((i) => state(i.lw.list() as Obj[]) === truth.get(i.res.label)),
    Boolean,
    300_000,
  );
}

async function mutate(cluster: BenchCluster, round: number, changes: number): Promise<void> {
  for (const r of resources) {
    const existing = await cluster.names(r);
    const creates = Math.round(changes * 0.2);
    const deletes = Math.round(changes * 0.2);
    const updates = changes - creates - deletes;
    for (let i = 0; i < creates; i++) await cluster.create(r, r.make(`new-r${round}-${i}`));
    for (let i = 0; i < deletes; i++) await cluster.remove(r, existing[i]!);
    for (let i = 0; i < updates; i++)
      await cluster.label(r, existing[deletes + i]!, { rev: `r${round}-${i}` });
  }
}

interface Cost extends Traffic {
  localLists: number;
  localErrors: number;
  openWatches: string;
}

async function outageRound(
  cluster: BenchCluster,
  informers: Informer[],
  o: { round: number; outageMs: number; changes: number; compact: boolean; linkDown: () => Promise<void> },
): Promise<Cost> {
  const listsBefore = informers.reduce((n, i) => n + i.lists, 0);
  const errorsBefore = informers.reduce((n, i) => n + i.errors, 0);
  await cluster.partition();
  const started = Date.now();
  await o.linkDown();
  await mutate(cluster, o.round, o.changes);
  if (o.compact) await cluster.compact();
  // Read before the clock starts: on the real server these LISTs would count.
  const truth = await cluster.truth();
  await new Promise((r) => setTimeout(r, Math.max(0, o.outageMs - (Date.now() - started))));
  await cluster.mark();
  await cluster.heal();
  await inSync(truth, informers);
  // Let resumed watches settle so their bytes are counted too.
  await new Promise((r) => setTimeout(r, 3000));
  return {
    ...(await cluster.traffic()),
    localLists: informers.reduce((n, i) => n + i.lists, 0) - listsBefore,
    localErrors: informers.reduce((n, i) => n + i.errors, 0) - errorsBefore,
    openWatches: await cluster.openWatches(),
  };
}

async function populate(cluster: BenchCluster, objects: number): Promise<void> {
  for (const r of resources) {
    const names = Array.from({ length: objects }, (_, i) => `obj-${i}`);
    await pool(names, 8, (name) => cluster.create(r, r.make(name)));
  }
}

async function runSetup(
  name: 'islet' | 'direct',
  upstream: 'sim' | 'real',
  o: { objects: number; perResource: number; outageMs: number; changes: number },
): Promise<{ valid: Cost; compacted: Cost }> {
  const tmp = tempDir(`islet-bench-reconnect-${name}-`);
  const cluster = upstream === 'real' ? await realCluster() : await simCluster();
  let proxy: RunningProxy | undefined;
  let informers: Informer[] = [];
  try {
    await populate(cluster, o.objects);
    const { cert } = cluster;
    const kc = new k8s.KubeConfig();
    let linkDown = async () => {};
    if (name === 'islet') {
      const linkFile = join(tmp.dir, 'link.json');
      proxy = await startProxy([
        ...['--server', cluster.url, '--ca', cluster.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
        ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--cache', join(tmp.dir, 'cache.db')],
        ...['--link-state', linkFile, '--probe-interval', '500ms', '--probe-timeout', '1s'],
        ...['--offline-after', '3', '--online-after', '2'],
      ]);
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: proxy.url, skipTLSVerify: true }],
        users: [{ name: 'node' }],
        contexts: [{ name: 'c', cluster: 'c', user: 'node' }],
        currentContext: 'c',
      });
      linkDown = () =>
        eventually(
          'proxy offline',
          () => JSON.parse(readFileSync(linkFile, 'utf8')).state,
          (s) => s === 'offline',
          30_000,
        ).then(() => undefined);
    } else {
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: cluster.url, caFile: cluster.caPath }],
        users: [{ name: 'node', certFile: cert.certPath, keyFile: cert.keyPath }],
        contexts: [{ name: 'c', cluster: 'c', user: 'node' }],
        currentContext: 'c',
      });
    }
    informers = startInformers(kc, o.perResource);
    await Promise.all(informers.map((i) => i.lw.start()));
    await inSync(await cluster.truth(), informers);
    await new Promise((r) => setTimeout(r, 2000));
    const valid = await outageRound(cluster, informers, { round: 1, compact: false, linkDown, ...o });
    const compacted = await outageRound(cluster, informers, { round: 2, compact: true, linkDown, ...o });
    return { valid, compacted };
  } finally {
    await Promise.all(informers.map((i) => i.lw.stop()));
    await proxy?.stop();
    await cluster.close();
    tmp.cleanup();
  }
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function ratio(a: number, b: number): string {
  if (a === 0) return b === 0 ? '—' : `∞ (islet 0)`;
  return `${(b / a).toFixed(1)}×`;
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), {
    outage: { type: 'string', default: '60' },
    objects: { type: 'string', default: '1000' },
    informers: { type: 'string', default: '10' },
    changes: { type: 'string', default: '50' },
    upstream: { type: 'string', default: process.env.ISLET_BENCH_UPSTREAM ?? 'sim' },
  });
  const upstream = flags.upstream;
  if (upstream !== 'sim' && upstream !== 'real') throw new Error('--upstream must be sim or real');
  const num = (k: string) => {
    const v = Number(flags[k]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
    return v;
  };
  const o = {
    outageMs: num('outage') * 1000,
    objects: num('objects'),
    perResource: num('informers'),
    changes: num('changes'),
  };
  console.log(
    `reconnect benchmark: ${o.perResource} informers × ${resources.length} resources, ${o.objects} objects each, ` +
      `${o.outageMs / 1000} s outage with ${o.changes} changes per resource (create/update/delete 20/60/20 %), ` +
      `upstream: ${upstream === 'real' ? 'real kube-apiserver (--watch-cache=false)' : 'simulator'}`,
  );
  const islet = await runSetup('islet', upstream, o);
  const direct = await runSetup('direct', upstream, o);
  for (const round of ['valid', 'compacted'] as const) {
    const a = islet[round];
    const b = direct[round];
    console.log(
      `\nround: ${round === 'valid' ? 'resourceVersions still valid' : 'compaction forced past them'}`,
    );
    console.log('                          islet        direct       direct/islet');
    console.log(
      `  upstream requests    ${String(a.requests).padStart(8)}     ${String(b.requests).padStart(8)}       ${ratio(a.requests, b.requests)}`,
    );
    console.log(
      `  upstream LISTs       ${String(a.lists).padStart(8)}     ${String(b.lists).padStart(8)}       ${ratio(a.lists, b.lists)}`,
    );
    console.log(
      `  upstream WATCHes     ${String(a.watches).padStart(8)}     ${String(b.watches).padStart(8)}       ${ratio(a.watches, b.watches)}`,
    );
    console.log(
      `  upstream bytes     ${kib(a.bytes).padStart(12)} ${kib(b.bytes).padStart(12)}       ${ratio(a.bytes, b.bytes)}`,
    );
    console.log(`  open watches after   ${a.openWatches.padStart(8)}     ${b.openWatches.padStart(8)}`);
    console.log(
      `  local relists        ${String(a.localLists).padStart(8)}     ${String(b.localLists).padStart(8)}`,
    );
    console.log(
      `  local watch errors   ${String(a.localErrors).padStart(8)}     ${String(b.localErrors).padStart(8)}`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
