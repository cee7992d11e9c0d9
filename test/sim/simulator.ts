/**
 * The simulator: a raw TCP listener in front of the HTTP/HTTPS server (so the network can be cut
 * or blackholed while the state lives on), its PKI and credentials, and the controls, counters
 * and direct state access tests use. Requests themselves are served by HttpApi.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { Access, Credentials, filterKey, filterMatches } from './access.js';
import { Counters, type RequestRecord, type TrafficFilter, type WatchKey } from './counters.js';
import { HttpApi } from './http-api.js';
import type { SimObject } from './object.js';
import type { SimulatorOptions } from './options.js';
import { PATCH_TYPES } from './patch.js';
import { type CertFiles, createPki, mintClientCert, type Pki } from './pki.js';
import { type ResourceRef, resolveResource } from './resources.js';
import { Responder } from './respond.js';
import { StatusError } from './status.js';
import { type DeleteOptions, type ListQuery, type ListResult, SimStore } from './store.js';
import type { WatchStream } from './watch.js';

export type { SimulatorOptions } from './options.js';
export type PartitionMode = 'refuse' | 'blackhole';
export type PatchType = keyof typeof PATCH_TYPES | string;

export class Simulator {
  readonly store: SimStore;
  readonly tls: boolean;
  readonly host: string;
  port: number;
  /** Temp dir holding the PKI and kubeconfigs; removed by close(). */
  readonly dir: string;
  private readonly pki: Pki | undefined;
  private readonly counters: Counters;
  private readonly server: http.Server;
  private listener: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly heldSockets = new Set<net.Socket>();
  private readonly heldResponses = new Set<ServerResponse>();
  private readonly watches = new Map<WatchStream, RequestRecord>();
  private readonly access: Access;
  private readonly api: HttpApi;
  private mode: 'up' | 'stopped' | PartitionMode = 'stopped';
  private latencyMs = 0;

  constructor(
    private readonly opts: SimulatorOptions,
    dir: string,
    pki: Pki | undefined,
    /** A replica's cluster: the primary's store and credentials. */
    shared?: { store: SimStore; credentials: Credentials },
  ) {
    this.dir = dir;
    this.pki = pki;
    this.tls = pki !== undefined;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.store =
      shared?.store ??
      new SimStore({ historyLimit: opts.historyLimit, podGracefulDeletion: opts.podGracefulDeletion });
    this.counters = new Counters(opts.requestLogLimit ?? 10_000);
    this.access = new Access(this.tls, opts.anonymous ?? !this.tls, shared?.credentials ?? new Credentials());
    for (const [token, u] of Object.entries(opts.tokens ?? {})) {
      this.addToken(token, typeof u === 'string' ? u : u.user, typeof u === 'string' ? [] : (u.groups ?? []));
    }
    const respond = new Responder(this.counters, opts.compression !== false);
    this.api = new HttpApi(this.store, this.counters, this.access, respond, opts, this.watches, {
      isBlackholed: () => this.mode === 'blackhole',
      hold: (res) => this.hold(res),
      latencyMs: () => this.latencyMs,
      address: () => `${this.host}:${this.port}`,
    });
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.api.handle(req, res).catch((err) => {
        if (!res.headersSent) respond.error(res, undefined, err);
        else res.destroy();
      });
    };
    this.server = pki
      ? https.createServer(
          {
            key: pki.server.keyPem,
            cert: pki.server.certPem,
            ca: pki.caPem,
            requestCert: true,
            rejectUnauthorized: false,
          },
          handler,
        )
      : http.createServer(handler);
    this.server.requestTimeout = 0;
    this.server.on('clientError', (_err, socket) => socket.destroy());
    this.server.on('tlsClientError', () => {});
  }

  // ---------------------------------------------------------------- addresses and credentials

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.tls ? 'https' : 'http'}://${host}:${this.port}`;
  }

  get caPath(): string {
    return this.requirePki().caPath;
  }

  get caPem(): string {
    return this.requirePki().caPem;
  }

  private requirePki(): Pki {
    if (!this.pki) throw new Error('simulator: started without TLS, there is no CA');
    return this.pki;
  }

  /**
   * Mints a client certificate signed by the simulator's CA: CN=system:node:<name>, O=system:nodes
   * (kubelet's), or the given subject. Each call makes a new key and serial (a rotation).
   */
  mintClientCert(
    nodeName: string,
    o: { subject?: { cn: string; o?: string[] }; days?: number } = {},
  ): Promise<CertFiles> {
    return mintClientCert(this.requirePki(), nodeName, o.subject, o.days);
  }

  /** Rejects a certificate from now on (401), by the value mintClientCert returned or its serial. */
  revokeClientCert(cert: CertFiles | string): void {
    this.access.revoke(typeof cert === 'string' ? cert : cert.serial);
  }

  addToken(token: string, user: string, groups: string[] = []): void {
    this.access.addToken(token, user, groups);
  }

  /**
   * Writes a kubeconfig for this simulator (CA, and a client cert or bearer token) and returns its
   * path: what kubectl and client-node's loadFromFile need.
   */
  async writeKubeconfig(auth: { cert?: CertFiles; token?: string; path?: string } = {}): Promise<string> {
    const user: Record<string, string> = {};
    if (auth.cert) {
      user['client-certificate-data'] = Buffer.from(auth.cert.certPem).toString('base64');
      user['client-key-data'] = Buffer.from(auth.cert.keyPem).toString('base64');
    }
    if (auth.token) user.token = auth.token;
    const cluster: Record<string, string> = { server: this.url };
    if (this.pki) cluster['certificate-authority-data'] = Buffer.from(this.pki.caPem).toString('base64');
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sim', cluster }],
      users: [{ name: 'sim', user }],
      contexts: [{ name: 'sim', context: { cluster: 'sim', user: 'sim' } }],
      'current-context': 'sim',
    };
    const path =
      auth.path ?? join(this.dir, `kubeconfig-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await writeFile(path, YAML.stringify(doc), { mode: 0o600 });
    return path;
  }

  // ---------------------------------------------------------------- network controls

  /** Listens (again) on the same port; state is kept across stop/start. */
  async start(): Promise<void> {
    if (this.listener) return;
    const listener = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.port, this.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.port = (listener.address() as net.AddressInfo).port;
    this.listener = listener;
    this.mode = 'up';
  }

  /** Closes the listener and cuts every connection (clients see refused/reset); state is kept. */
  async stop(): Promise<void> {
    this.mode = 'stopped';
    await this.closeListener();
  }

  /**
   * Cuts network clients off while the state lives on and stays mutable through the methods:
   * 'refuse' closes the port and resets connections; 'blackhole' accepts connections and requests
   * but never answers, and open watches go silent.
   */
  async partition(mode: PartitionMode): Promise<void> {
    if (mode === 'refuse') {
      await this.closeListener();
      this.mode = 'refuse';
      return;
    }
    if (!this.listener) await this.start();
    this.mode = 'blackhole';
    for (const w of this.watches.keys()) w.muted = true;
  }

  /** Ends a partition: the port answers again; connections stuck in a blackhole are reset. */
  async heal(): Promise<void> {
    const was = this.mode;
    if (was === 'blackhole') {
      this.mode = 'up';
      for (const s of this.heldSockets) s.destroy();
      this.heldSockets.clear();
      for (const r of this.heldResponses) r.socket?.destroy();
      this.heldResponses.clear();
      for (const w of [...this.watches.keys()]) if (w.muted) w.destroy();
    } else if (was === 'refuse' || was === 'stopped') {
      await this.start();
    }
  }

  /** Delay before each request is handled. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /**
   * Closes open watch streams (all, or those matching `match`): by default cut like a failing
   * network (socket destroyed); `{graceful: true}` ends them cleanly as an API server restart would.
   */
  dropWatches(o: { graceful?: boolean; match?: WatchKey } = {}): number {
    const chosen = [...this.watches].filter(([, rec]) => !o.match || filterMatches(o.match, filterKey(rec)));
    for (const [w] of chosen) o.graceful ? w.end() : w.destroy();
    return chosen.length;
  }

  /**
   * The next `nextN` requests matching `match` (default: every request except /healthz, /livez,
   * /readyz, which API priority and fairness exempts) get 429 with Retry-After.
   */
  throttle(nextN: number, retryAfterSeconds: number, match: TrafficFilter = {}): () => void {
    return this.access.throttle(nextN, retryAfterSeconds, match);
  }

  /**
   * Requests matching `match` (e.g. {user: 'system:node:b', resource: 'secrets'}) get 403 Forbidden,
   * as RBAC would answer, until the returned function is called.
   */
  deny(match: TrafficFilter): () => void {
    return this.access.deny(match);
  }

  /** Forgets history at and below `rv` (default: the current revision): older resourceVersions get 410. */
  compact(rv?: number): void {
    this.store.compact(rv);
  }

  /**
   * Another API server of the same cluster, like a second kube-apiserver over one etcd: same
   * objects, resourceVersions, history, CA and credentials; its own port, network controls
   * (stop/partition/latency/throttle/deny) and counters. Close replicas before the primary (the
   * CA files live in the primary's dir).
   */
  async replica(o: { port?: number } = {}): Promise<Simulator> {
    const dir = await mkdtemp(join(tmpdir(), 'islet-sim-replica-'));
    const r = new Simulator({ ...this.opts, port: o.port ?? 0, tokens: undefined }, dir, this.pki, {
      store: this.store,
      credentials: this.access.credentials,
    });
    try {
      await r.start();
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return r;
  }

  /** Stops everything and removes the temp dir; the simulator cannot be started again. */
  async close(): Promise<void> {
    await this.stop();
    this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.mode === 'blackhole') {
      this.heldSockets.add(socket);
      socket.on('close', () => this.heldSockets.delete(socket));
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    this.server.emit('connection', socket);
  }

  private async closeListener(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    for (const w of [...this.watches.keys()]) w.destroy();
    for (const s of [...this.sockets, ...this.heldSockets]) s.destroy();
    this.heldSockets.clear();
    this.heldResponses.clear();
    if (l) await new Promise<void>((resolve) => l.close(() => resolve()));
  }

  // ---------------------------------------------------------------- observation

  /** The newest resourceVersion (global revision). */
  get resourceVersion(): number {
    return this.store.rv;
  }

  /** ResourceVersions below this get 410 Gone. */
  get compactedResourceVersion(): number {
    return this.store.compactedRv;
  }

  /** Requests received (authenticated or not) matching the filter. */
  requestCount(filter: TrafficFilter = {}): number {
    return this.counters.count(filter);
  }

  /** LIST requests for a key (resource, namespace, selectors; omitted parts match all). */
  listCount(key: WatchKey): number {
    return this.counters.count({ ...key, verb: 'list' });
  }

  /** WATCH requests for a key: how many were opened in total and how many are open now. */
  watchCount(key: WatchKey): { opened: number; open: number } {
    let open = 0;
    for (const [w, rec] of this.watches) if (!w.isClosed && filterMatches(key, filterKey(rec))) open++;
    return { opened: this.counters.count({ ...key, verb: 'watch' }), open };
  }

  /** Response body bytes sent, in total or for matching requests (watch streams included). */
  bytesSent(filter?: TrafficFilter): number {
    return this.counters.bytes(filter);
  }

  /** The request log (newest last, bounded by requestLogLimit). */
  get requests(): readonly RequestRecord[] {
    return this.counters.log;
  }

  resetCounters(): void {
    this.counters.reset();
  }

  // ---------------------------------------------------------------- direct state access

  /** Creates an object (namespace from metadata.namespace, default "default"; missing namespaces are created). */
  create(ref: ResourceRef, obj: SimObject): SimObject {
    const r = resolveResource(ref);
    return this.store.create(r, r.namespaced ? (obj.metadata?.namespace ?? 'default') : '', obj, {
      direct: true,
    });
  }

  /** Replaces an object (spec and status alike, or only status with {subresource: 'status'}). */
  update(ref: ResourceRef, obj: SimObject, o: { subresource?: 'status' } = {}): SimObject {
    const r = resolveResource(ref);
    const ns = r.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
    return this.store.update(r, ns, obj.metadata.name!, obj, { direct: true, subresource: o.subresource });
  }

  patch(
    ref: ResourceRef,
    name: string,
    patch: unknown,
    o: { namespace?: string; type?: PatchType; subresource?: 'status' } = {},
  ): SimObject {
    const r = resolveResource(ref);
    const type = o.type ?? 'merge';
    const contentType = (PATCH_TYPES as Record<string, string>)[type] ?? type;
    return this.store.patch(r, r.namespaced ? (o.namespace ?? 'default') : '', name, contentType, patch, {
      direct: true,
      subresource: o.subresource,
    });
  }

  delete(ref: ResourceRef, name: string, o: DeleteOptions & { namespace?: string } = {}): SimObject {
    const r = resolveResource(ref);
    return this.store.delete(r, r.namespaced ? (o.namespace ?? 'default') : '', name, o);
  }

  /** The object, or undefined when it does not exist. */
  get(ref: ResourceRef, name: string, namespace = 'default'): SimObject | undefined {
    const r = resolveResource(ref);
    try {
      return this.store.get(r, r.namespaced ? namespace : '', name);
    } catch (e) {
      if (e instanceof StatusError && e.code === 404) return undefined;
      throw e;
    }
  }

  /** A LIST as the API server would answer it (namespace '' or absent = all namespaces). */
  list(ref: ResourceRef, q: ListQuery = {}): ListResult {
    return this.store.list(resolveResource(ref), q);
  }

  /** A blackholed request: never answered, reset when the partition heals. */
  private hold(res: ServerResponse): void {
    this.heldResponses.add(res);
    res.on('close', () => this.heldResponses.delete(res));
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const dir = await mkdtemp(join(tmpdir(), 'islet-sim-'));
  try {
    const pki = opts.tls === false ? undefined : await createPki(dir);
    const sim = new Simulator(opts, dir, pki);
    await sim.start();
    return sim;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
