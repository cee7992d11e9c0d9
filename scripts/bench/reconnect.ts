/**
 * Reconnect cost after an outage: 10 client-node informers × 5 resources, 1,000 objects per
 * resource, a 60 s outage during which the simulator keeps changing objects, then recovery.
 * Measured on the simulator from the moment the link heals until every informer holds the
 * simulator's state again: upstream API requests (health probes excluded), LISTs, watches and
 * response bytes, for
 *   islet:  the informers talk to `dist/islet proxy`, which talks to the simulator;
 *   direct: the same informers talk to the simulator (restarted after errors, as controllers do).
 * Two rounds each: resourceVersions still valid, and compaction forced past them during the outage.
 *
 *   npm run bench:reconnect                   (builds dist/islet first)
 *   npm run bench:reconnect -- --outage 10 --objects 200 --informers 4 --changes 30
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseFlags } from '../../lib/args.js';
import { eventually, type RunningProxy, startProxy, tempDir } from '../../test/proxy/harness.js';
import { type Simulator, startSimulator } from '../../test/sim/index.js';

type Obj = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } };

interface Resource {
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
    path: '/api/v1/configmaps',
    list: (kc) => () => kc.makeApiClient(k8s.CoreV1Api).listConfigMapForAllNamespaces() as never,
    make: (name) => ({ metadata: { name, namespace: NS }, data: { config: `key=${name}\nlevel=info\n` } }),
  },
  {
    ref: 'endpoints',
    label: 'endpoints',
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

function state(items: Obj[]): string {
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

async function inSync(sim: Simulator, informers: Informer[]): Promise<void> {
  await eventually(
    'informers hold the simulator state',
    () => {
      const truth = new Map(resources.map((r) => [r.label, state(sim.list(r.ref).items as Obj[])]));
      return informers.every((i) => state(i.lw.list() as Obj[]) === truth.get(i.res.label));
    },
    Boolean,
    300_000,
  );
}

function mutate(sim: Simulator, round: number, changes: number): void {
  for (const r of resources) {
    const existing = sim.list(r.ref, { namespace: NS }).items.map((o) => o.metadata.name!);
    const creates = Math.round(changes * 0.2);
    const deletes = Math.round(changes * 0.2);
    const updates = changes - creates - deletes;
    for (let i = 0; i < creates; i++) sim.create(r.ref, r.make(`new-r${round}-${i}`) as never);
    for (let i = 0; i < deletes; i++) sim.delete(r.ref, existing[i]!, { namespace: NS });
    for (let i = 0; i < updates; i++) {
      sim.patch(
        r.ref,
        existing[deletes + i]!,
        { metadata: { labels: { rev: `r${round}-${i}` } } },
        { namespace: NS },
      );
    }
  }
}

interface Cost {
  requests: number;
  lists: number;
  watches: number;
  bytes: number;
  localLists: number;
  localErrors: number;
}

const probePaths = ['/readyz', '/healthz', '/livez'];

function measure(sim: Simulator, informers: Informer[], listsBefore: number, errorsBefore: number): Cost {
  const probes = probePaths.reduce((n, path) => n + sim.requestCount({ path }), 0);
  const probeBytes = probePaths.reduce((n, path) => n + sim.bytesSent({ path }), 0);
  return {
    requests: sim.requestCount() - probes,
    lists: sim.requestCount({ verb: 'list' }),
    watches: sim.requestCount({ verb: 'watch' }),
    bytes: sim.bytesSent() - probeBytes,
    localLists: informers.reduce((n, i) => n + i.lists, 0) - listsBefore,
    localErrors: informers.reduce((n, i) => n + i.errors, 0) - errorsBefore,
  };
}

async function outageRound(
  sim: Simulator,
  informers: Informer[],
  o: { round: number; outageMs: number; changes: number; compact: boolean; linkDown: () => Promise<void> },
): Promise<Cost> {
  const listsBefore = informers.reduce((n, i) => n + i.lists, 0);
  const errorsBefore = informers.reduce((n, i) => n + i.errors, 0);
  await sim.partition('refuse');
  const started = Date.now();
  await o.linkDown();
  mutate(sim, o.round, o.changes);
  if (o.compact) sim.compact();
  await new Promise((r) => setTimeout(r, Math.max(0, o.outageMs - (Date.now() - started))));
  sim.resetCounters();
  await sim.heal();
  await inSync(sim, informers);
  // Let resumed watches settle so their bytes are counted too.
  await new Promise((r) => setTimeout(r, 3000));
  return measure(sim, informers, listsBefore, errorsBefore);
}

async function populate(sim: Simulator, objects: number): Promise<void> {
  for (const r of resources) for (let i = 0; i < objects; i++) sim.create(r.ref, r.make(`obj-${i}`) as never);
}

async function runSetup(
  name: 'islet' | 'direct',
  o: { objects: number; perResource: number; outageMs: number; changes: number },
): Promise<{ valid: Cost; compacted: Cost }> {
  const tmp = tempDir(`islet-bench-reconnect-${name}-`);
  const sim = await startSimulator({ bookmarkIntervalMs: 1000, requestLogLimit: 100_000 });
  let proxy: RunningProxy | undefined;
  let informers: Informer[] = [];
  try {
    await populate(sim, o.objects);
    const cert = await sim.mintClientCert('node-a');
    const kc = new k8s.KubeConfig();
    let linkDown = async () => {};
    if (name === 'islet') {
      const linkFile = join(tmp.dir, 'link.json');
      proxy = await startProxy([
        ...['--server', sim.url, '--ca', sim.caPath, '--cert', cert.certPath, '--key', cert.keyPath],
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
      const { readFileSync } = await import('node:fs');
      linkDown = () =>
        eventually(
          'proxy offline',
          () => JSON.parse(readFileSync(linkFile, 'utf8')).state,
          (s) => s === 'offline',
          30_000,
        ).then(() => undefined);
    } else {
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: sim.url, caFile: sim.caPath }],
        users: [{ name: 'node', certFile: cert.certPath, keyFile: cert.keyPath }],
        contexts: [{ name: 'c', cluster: 'c', user: 'node' }],
        currentContext: 'c',
      });
    }
    informers = startInformers(kc, o.perResource);
    await Promise.all(informers.map((i) => i.lw.start()));
    await inSync(sim, informers);
    await new Promise((r) => setTimeout(r, 2000));
    const valid = await outageRound(sim, informers, { round: 1, compact: false, linkDown, ...o });
    const compacted = await outageRound(sim, informers, { round: 2, compact: true, linkDown, ...o });
    return { valid, compacted };
  } finally {
    await Promise.all(informers.map((i) => i.lw.stop()));
    await proxy?.stop();
    await sim.close();
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
  });
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
      `${o.outageMs / 1000} s outage with ${o.changes} changes per resource (create/update/delete 20/60/20 %)`,
  );
  const islet = await runSetup('islet', o);
  const direct = await runSetup('direct', o);
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
