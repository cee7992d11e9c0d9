/**
 * One face for the two API servers the proxy suites run against, so a suite is written once and
 * runs on both (`describe.each(upstreams())`):
 *   sim   the simulator (test/sim), in-process
 *   real  etcd + kube-apiserver from the pinned build (test/k8s/control-plane.ts), behind the relay
 *
 * The node is `system:node:edge-1` on both. On the real server the node authorizer and
 * NodeRestriction decide what it may do; the simulator allows everything, so the suites only do
 * what a node may do, and anything the proxy gets wrong about that shows on the real server.
 * Admin calls (seeding, checking the truth) go over HTTP with an admin certificate on both, so
 * they get the same registry defaults and errors, and on both they count as upstream requests.
 */
import { APF_OVERLOAD_FLAGS, type Overload, overloadUser } from '../k8s/apf-overload.js';
import {
  type ControlPlane,
  controlPlaneMissing,
  NODE_NAME,
  startControlPlane,
} from '../k8s/control-plane.js';
import type { RunningProxy } from '../proxy/harness.js';
import { fastBookmarkArgs, localArgs, startProxy, twoProbeLinkArgs, upstreamArgs } from '../proxy/harness.js';
import { type ClientAuth, type RawResponse, rawRequest } from '../sim/client.js';
import type { CertFiles } from '../sim/pki.js';
import { type Simulator, startSimulator } from '../sim/simulator.js';

export type UpstreamKind = 'sim' | 'real';

/** The resources node-realistic suites use, and where they live. */
const API: Record<string, string> = {
  pods: '/api/v1',
  nodes: '/api/v1',
  services: '/api/v1',
  configmaps: '/api/v1',
  endpoints: '/api/v1',
  secrets: '/api/v1',
  events: '/api/v1',
  namespaces: '/api/v1',
  endpointslices: '/apis/discovery.k8s.io/v1',
  leases: '/apis/coordination.k8s.io/v1',
};
export type Resource = keyof typeof API & string;

const CLUSTER_SCOPED = new Set(['nodes', 'namespaces']);

/** The REST path of a collection or object. */
export function restPath(
  resource: string,
  o: { namespace?: string; name?: string; subresource?: string } = {},
) {
  const base = API[resource];
  if (!base) throw new Error(`upstream: unknown resource ${resource}`);
  const ns = !CLUSTER_SCOPED.has(resource) && o.namespace ? `/namespaces/${o.namespace}` : '';
  const name = o.name ? `/${o.name}` : '';
  const sub = o.subresource ? `/${o.subresource}` : '';
  return `${base}${ns}/${resource}${name}${sub}`;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface PatchOptions {
  namespace?: string;
  subresource?: string;
  type?: 'merge' | 'strategic' | 'json';
}

const PATCH_CONTENT = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
type Json = any;

export interface UpstreamOptions {
  /**
   * Watch history the server keeps. 'etcd' means the server reads old revisions from etcd (real:
   * --watch-cache=false), so a compaction really answers 410 for older resourceVersions.
   */
  history?: 'default' | 'etcd';
  /** Extra kube-apiserver flags (real only). */
  apiserverArgs?: string[];
  /** Real: start kube-apiserver so that overloadNode() can hold the node's one APF seat. */
  overloadable?: boolean;
  /** Simulator BOOKMARK interval (the real server sends them on its own schedule, ~1 min). */
  bookmarkIntervalMs?: number;
}

export interface TestUpstream {
  kind: UpstreamKind;
  /** What the proxy talks to (the relay in front of the real server, or the simulator). */
  url: string;
  caPath: string;
  nodeName: string;
  nodeCert: CertFiles;
  adminRequest(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<RawResponse>;
  adminCreate(resource: Resource, obj: Json): Promise<Json>;
  /** undefined when the object does not exist. */
  adminGet(resource: Resource, name: string, namespace?: string): Promise<Json | undefined>;
  adminList(resource: Resource, o?: ListOptions): Promise<Json[]>;
  adminPatch(resource: Resource, name: string, patch: unknown, o?: PatchOptions): Promise<Json>;
  /** Deleted at once (grace period 0: there is no kubelet to confirm a bound pod's end). */
  adminDelete(resource: Resource, name: string, namespace?: string): Promise<void>;
  ensureNamespace(name: string): Promise<void>;
  /** Cut the node's link (the proxy's upstream); the admin keeps its own access. */
  partition(mode: 'refuse' | 'blackhole'): Promise<void>;
  heal(): Promise<void>;
  /** Forget history up to now: watches and exact lists from older resourceVersions get 410. */
  compact(): Promise<void>;
  /**
   * Requests served so far for `verb` (LIST, WATCH, GET, PATCH, ...) and resource[/sub]. The real
   * server counts every client, the admin too, and a WATCH only when it ends; the simulator counts
   * the node's side. So suites take deltas without admin LISTs of that resource in between.
   */
  countRequests(verb: string, resource: string): Promise<number>;
  /**
   * Overload for the node: until release(), its requests (probes excepted) get 429 with
   * Retry-After: 1. Real: API Priority and Fairness with a one-seat level whose seat is held
   * (test/k8s/apf-overload.ts; start with `overloadable`); sim: throttle().
   */
  overloadNode(): Promise<Overload>;
  /** The simulator itself, for the faults only it can make (set on the sim upstream only). */
  sim?: Simulator;
  /** `dist/islet proxy` as the node runs it against this upstream, with fast probes. */
  startProxy(dir: string, extra?: string[]): Promise<RunningProxy>;
  proxyArgs(dir: string, extra?: string[]): string[];
  close(): Promise<void>;
}

function expectOk(method: string, path: string, r: RawResponse): Json {
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status}: ${r.body.toString().slice(0, 500)}`);
  return r.json;
}

/** The parts both servers share once their admin HTTP access exists. */
function common(
  kind: UpstreamKind,
  node: { url: string; caPath: string; nodeCert: CertFiles },
  admin: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<RawResponse>,
): Omit<TestUpstream, 'partition' | 'heal' | 'compact' | 'countRequests' | 'overloadNode' | 'close'> {
  const req = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    expectOk(method, path, await admin(method, path, body, headers));
  const proxyArgs = (dir: string, extra: string[] = []) => [
    ...upstreamArgs(node, node.nodeCert),
    ...localArgs(dir),
    ...twoProbeLinkArgs,
    ...fastBookmarkArgs,
    ...extra,
  ];
  return {
    kind,
    url: node.url,
    caPath: node.caPath,
    nodeName: NODE_NAME,
    nodeCert: node.nodeCert,
    adminRequest: admin,
    adminCreate: (resource, obj) =>
      req('POST', restPath(resource, { namespace: obj.metadata?.namespace ?? 'default' }), obj),
    async adminGet(resource, name, namespace = 'default') {
      const path = restPath(resource, { namespace, name });
      const r = await admin('GET', path);
      if (r.status === 404) return undefined;
      return expectOk('GET', path, r);
    },
    async adminList(resource, o = {}) {
      const q = new URLSearchParams();
      if (o.labelSelector) q.set('labelSelector', o.labelSelector);
      if (o.fieldSelector) q.set('fieldSelector', o.fieldSelector);
      const path = `${restPath(resource, { namespace: o.namespace })}${q.size ? `?${q}` : ''}`;
      return (await req('GET', path)).items;
    },
    adminPatch: (resource, name, patch, o = {}) =>
      req(
        'PATCH',
        restPath(resource, { namespace: o.namespace ?? 'default', name, subresource: o.subresource }),
        patch,
        {
          'Content-Type': PATCH_CONTENT[o.type ?? 'merge'],
        },
      ),
    async adminDelete(resource, name, namespace = 'default') {
      const path = restPath(resource, { namespace, name });
      const r = await admin('DELETE', path, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
      });
      if (r.status !== 404) expectOk('DELETE', path, r);
    },
    async ensureNamespace(name) {
      const r = await admin('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
      if (r.status >= 300 && r.status !== 409) expectOk('POST', '/api/v1/namespaces', r);
    },
    proxyArgs,
    startProxy: (dir, extra) => startProxy(proxyArgs(dir, extra)),
  };
}

export async function startSimUpstream(o: UpstreamOptions = {}): Promise<TestUpstream> {
  const sim: Simulator = await startSimulator({ bookmarkIntervalMs: o.bookmarkIntervalMs ?? 300 });
  // The admin's way in is a second server of the same cluster, as on the real server (where the
  // admin bypasses the relay): cutting the node's link leaves the admin its access.
  const adminSide = await sim.replica();
  const nodeCert = await sim.mintClientCert(NODE_NAME);
  const adminCert = await sim.mintClientCert('', {
    subject: { cn: 'islet-test-admin', o: ['system:masters'] },
  });
  const adminAuth: ClientAuth = { ca: sim.caPem, cert: adminCert };
  const base = common('sim', { url: sim.url, caPath: sim.caPath, nodeCert }, (m, p, b, h) =>
    rawRequest(adminSide.url, adminAuth, m, p, b, h),
  );
  return {
    ...base,
    sim,
    partition: (mode) => sim.partition(mode),
    heal: () => sim.heal(),
    async compact() {
      sim.compact();
    },
    async countRequests(verb, resource) {
      const [res, sub] = resource.split('/');
      // The node's side only (the admin's replica counts its own): the real server counts both.
      return sim.requestCount({
        verb: verb.toLowerCase(),
        resource: res,
        ...(sub ? { subresource: sub } : {}),
      });
    },
    async overloadNode() {
      const lift = sim.throttle(Number.MAX_SAFE_INTEGER, 1, { user: `system:node:${NODE_NAME}` });
      return {
        rejected: async () =>
          sim.requests.filter((r) => r.status === 429 && r.identity?.user === `system:node:${NODE_NAME}`)
            .length,
        release: async () => lift(),
      };
    },
    async close() {
      await adminSide.close();
      await sim.close();
    },
  };
}

export async function startRealUpstream(
  o: UpstreamOptions = {},
): Promise<TestUpstream & { cp: ControlPlane }> {
  const cp = await startControlPlane({
    apiserverArgs: [
      ...(o.history === 'etcd' ? ['--watch-cache=false'] : []),
      ...(o.overloadable ? APF_OVERLOAD_FLAGS : []),
      ...(o.apiserverArgs ?? []),
    ],
  });
  const base = common('real', { url: cp.url, caPath: cp.caPath, nodeCert: cp.nodeCert }, (m, p, b, h) =>
    cp.admin.request(m, p, b, h),
  );
  return {
    ...base,
    cp,
    // Without a controller manager nobody makes the "default" service account pods need.
    ensureNamespace: (name) => cp.ensureNamespace(name),
    partition: (mode) => cp.partition(mode),
    heal: () => cp.heal(),
    async compact() {
      await cp.compact();
    },
    async countRequests(verb, resource) {
      return (await cp.requestCounts()).get(`${verb.toUpperCase()} ${resource}`) ?? 0;
    },
    overloadNode() {
      if (!o.overloadable) throw new Error('overloadNode needs startRealUpstream({ overloadable: true })');
      return overloadUser(cp, `system:node:${cp.nodeName}`, cp.nodeCert);
    },
    close: () => cp.close(),
  };
}

export interface UpstreamCase {
  kind: UpstreamKind;
  /** Why this upstream cannot run here ('' when it can). */
  skip: string;
  start(o?: UpstreamOptions): Promise<TestUpstream>;
}

/**
 * The upstreams a parameterised suite runs on. The real one is skipped, with the reason printed,
 * when the pinned binaries are not built.
 */
export function upstreams(): UpstreamCase[] {
  const missing = controlPlaneMissing();
  if (missing) console.warn(`real API server cases skipped: ${missing}`);
  return [
    { kind: 'sim', skip: '', start: startSimUpstream },
    { kind: 'real', skip: missing, start: startRealUpstream },
  ];
}
