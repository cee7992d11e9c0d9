/**
 * What a real kubelet 1.35 asks the islet proxy, online and after an offline reboot, and how the
 * proxy answers each kind of request. The proxy runs with its debug access log; the test prints
 * kubelet's distinct requests (verb, resource, content types, selector shape, watch-list or not)
 * with the answers per phase, and asserts that offline kubelet finds what it created online
 * (its CSINode, its node Lease) and that registering its Node again is answered 409 AlreadyExists,
 * as the API server would, instead of a 503 that keeps kubelet from starting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually, type RunningProxy } from '../proxy/harness.js';
import { EdgeNode, edgeNodeMissing, sleeperPod } from './edge-node.js';

const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the kubelet offline requests test: ${missing}`);

/** One line of the proxy's debug access log (proxy/serve/access-log.ts). */
interface Access {
  method: string;
  verb: string;
  resource: string;
  code: number;
  servedFrom: string;
  accept: string;
  contentType: string;
  userAgent: string;
  labelSelector?: string;
  fieldSelector?: string;
  sendInitialEvents?: boolean;
  resourceVersionMatch?: string;
}

function accessLog(proxy: RunningProxy): Access[] {
  const out: Access[] = [];
  for (const line of proxy.logs) {
    try {
      const rec = JSON.parse(line) as Access & { msg?: string };
      if (rec.msg === 'request') out.push(rec);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

const short = (mediaTypes: string) =>
  mediaTypes
    ? mediaTypes
        .split(',')
        .map((t) =>
          t
            .trim()
            .replace('application/vnd.kubernetes.protobuf', 'protobuf')
            .replace(/^application\//, '')
            .replace('strategic-merge-patch+json', 'smp')
            .replace('merge-patch+json', 'merge')
            .replace('json-patch+json', 'jsonpatch'),
        )
        .join(',')
    : '-';

/** Selector keys with their values masked: the shape, not the object names. */
const shape = (a: Access) =>
  [
    a.labelSelector ? `label:${a.labelSelector.replace(/=[^,]*/g, '=*')}` : '',
    a.fieldSelector ? `field:${a.fieldSelector.replace(/=[^,]*/g, '=*')}` : '',
  ]
    .filter(Boolean)
    .join(' ') || '-';

const requestKey = (a: Access) =>
  [
    a.verb,
    a.resource,
    `ct=${short(a.contentType)}`,
    `accept=${short(a.accept)}`,
    shape(a),
    a.sendInitialEvents ? 'watchlist' : '',
  ]
    .filter(Boolean)
    .join(' ');

/** kubelet's distinct requests, with the answers per phase ("code served_from xN"). */
function requestTable(phases: [string, Access[]][]): string {
  const rows = new Map<string, Map<string, Map<string, number>>>();
  for (const [phase, log] of phases) {
    for (const a of log) {
      if (!a.userAgent.startsWith('kubelet/')) continue;
      const row = rows.get(requestKey(a)) ?? new Map<string, Map<string, number>>();
      rows.set(requestKey(a), row);
      const answers = row.get(phase) ?? new Map<string, number>();
      row.set(phase, answers);
      const answer = `${a.code} ${a.servedFrom}`;
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
    }
  }
  const width = Math.max(...[...rows.keys()].map((k) => k.length), 10);
  const lines = [`${'request'.padEnd(width)} | ${phases.map(([p]) => p.padEnd(28)).join(' | ')}`];
  for (const [key, row] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const cells = phases.map(([p]) =>
      [...(row.get(p) ?? new Map<string, number>())]
        .map(([ans, n]) => `${ans} x${n}`)
        .join(', ')
        .padEnd(28),
    );
    lines.push(`${key.padEnd(width)} | ${cells.join(' | ')}`);
  }
  return lines.join('\n');
}

describe.skipIf(missing)("a real kubelet's requests through the proxy, online and offline", () => {
  let cp: ControlPlane;
  let node: EdgeNode;
  const ns = `kreq-${process.pid}`;

  beforeAll(async () => {
    cp = await startControlPlane();
    await cp.ensureNamespace(ns);
    node = await EdgeNode.create(cp, 229);
    node.extraProxyArgs.push('--log-level', 'debug');
  }, 180_000);

  afterAll(async () => {
    await node?.cleanup();
    await cp?.close();
  }, 120_000);

  it('after an offline reboot kubelet reads its CSINode and Lease from the cache and gets 409 for its Node', async () => {
    await node.boot();
    const onlineProxy = node.proxy!;
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, sleeperPod('app', cp.nodeName));
    await eventually(
      'the pod running and kubelet holding its CSINode and node Lease',
      async () => {
        const pod = await cp.admin.ok('GET', `/api/v1/namespaces/${ns}/pods/app`);
        const csinode = await cp.admin.request('GET', `/apis/storage.k8s.io/v1/csinodes/${cp.nodeName}`);
        const lease = await cp.admin.request(
          'GET',
          `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${cp.nodeName}`,
        );
        return pod.status?.phase === 'Running' && csinode.status === 200 && lease.status === 200;
      },
      Boolean,
      180_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nkubelet:\n${node.kubelet?.log(60)}`);
    });
    const online = accessLog(onlineProxy);

    await cp.partition('refuse');
    await node.powerCut();
    await node.boot();
    const offlineProxy = node.proxy!;
    const seen = (verb: string, resource: string) => (a: Access) =>
      a.userAgent.startsWith('kubelet/') && a.verb === verb && a.resource === resource;
    // kubelet at start: registers its Node, initialises its CSINode, renews its Lease, starts the pod.
    await eventually(
      'kubelet offline: node registration, CSINode and Lease read, app container running',
      async () => {
        const log = accessLog(offlineProxy);
        return (
          log.some(seen('create', 'nodes')) &&
          log.some(seen('get', 'storage.k8s.io/csinodes')) &&
          log.some(seen('get', 'coordination.k8s.io/leases')) &&
          log.some(seen('update', 'coordination.k8s.io/leases')) &&
          (await node.runningContainer('app')) !== undefined
        );
      },
      Boolean,
      180_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nkubelet:\n${node.kubelet?.log(60)}`);
    });
    const offline = accessLog(offlineProxy);
    console.log(
      `[kubelet-requests] kubelet's distinct requests and the proxy's answers (code served_from xN):\n${requestTable(
        [
          ['online (first boot)', online],
          ['offline (after reboot)', offline],
        ],
      )}`,
    );
    const notServed = offline.filter(
      (a) => a.userAgent.startsWith('kubelet/') && a.code >= 400 && !(a.verb === 'create' && a.code === 409),
    );
    console.log(
      `[kubelet-requests] not served offline:\n${[...new Set(notServed.map((a) => `  ${requestKey(a)} → ${a.code} ${a.servedFrom}`))].join('\n') || '  (none)'}`,
    );

    const answers = (verb: string, resource: string) =>
      offline.filter(seen(verb, resource)).map((a) => `${a.code} ${a.servedFrom}`);
    // What kubelet created online (CSINode, Lease) it reads back offline; never a stale 404.
    expect(new Set(answers('get', 'storage.k8s.io/csinodes'))).toEqual(new Set(['200 cache']));
    expect(answers('create', 'storage.k8s.io/csinodes')).toEqual([]);
    expect(new Set(answers('get', 'coordination.k8s.io/leases'))).toEqual(new Set(['200 cache']));
    expect(answers('create', 'coordination.k8s.io/leases')).toEqual([]);
    expect(new Set(answers('update', 'coordination.k8s.io/leases'))).toEqual(new Set(['200 local']));
    // Registering again: the API server's 409 AlreadyExists, from the Node the cache holds.
    expect(new Set(answers('create', 'nodes'))).toEqual(new Set(['409 local']));
    expect(new Set(answers('get', 'nodes'))).toEqual(new Set(['200 cache']));
    // kubelet asks for protobuf with a JSON fallback: the proxy filled its cache from those reads
    // (JSON asked upstream), which is what the offline answers above came from.
    const kubeletReads = online.filter(
      (a) => a.userAgent.startsWith('kubelet/') && (a.verb === 'get' || a.verb === 'create'),
    );
    expect(kubeletReads.some((a) => a.accept.startsWith('application/vnd.kubernetes.protobuf'))).toBe(true);
    // Watches are counted in the proxy's request metrics while they are open.
    const counts = await node.proxyRequests();
    expect([...counts.keys()].some((k) => k.startsWith('watch pods 200 '))).toBe(true);
  }, 600_000);
});
