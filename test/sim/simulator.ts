/**
 * The simulator's server: listener (raw TCP in front of HTTP/HTTPS so the network can be cut or
 * blackholed while the state lives on), authentication, routing, and the controls tests use.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import YAML from 'yaml';
import {
  Counters,
  type Identity,
  type RequestRecord,
  type TrafficFilter,
  type WatchKey,
} from './counters.js';
import {
  AGGREGATED_V2,
  AGGREGATED_V2BETA1,
  aggregatedDiscovery,
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
  negotiateDiscovery,
} from './discovery.js';
import { isPlainObject, type SimObject } from './object.js';
import { openApiDocument, openApiIndex, openApiPathGv } from './openapi.js';
import { PATCH_TYPES } from './patch.js';
import { type CertFiles, createPki, mintClientCert, type Pki } from './pki.js';
import { decodeProtobufObject, PROTOBUF } from './protobuf.js';
import { parseRequest, type SimRequest } from './request.js';
import { groupVersion, type ResourceRef, resolveResource, type SimResource } from './resources.js';
import { errors, StatusError } from './status.js';
import {
  type DeleteOptions,
  type ListQuery,
  type ListResult,
  matches,
  parseResourceVersion,
  parseSelectors,
  SimStore,
} from './store.js';
import {
  contentType,
  negotiate,
  partialObjectMetadata,
  partialObjectMetadataList,
  type Representation,
  toTable,
} from './table.js';
import { WatchStream } from './watch.js';

export interface SimulatorOptions {
  /** Serve HTTPS with client-certificate auth (default true); false serves plain HTTP. */
  tls?: boolean;
  /** Listen address (default 127.0.0.1) and port (default 0: an ephemeral port, kept across stop/start). */
  host?: string;
  port?: number;
  /** Bearer tokens accepted, token → user name (or {user, groups}). */
  tokens?: Record<string, string | { user: string; groups?: string[] }>;
  /** Let unauthenticated requests through as system:anonymous (default: true without TLS, false with). */
  anonymous?: boolean;
  /** BOOKMARK period for watches that allow them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** Watch timeout when the client gives none (default 1800 s, the API server's minRequestTimeout). */
  defaultWatchTimeoutSeconds?: number;
  /** Keep at most this many changes in history (older ones are compacted; default unlimited). */
  historyLimit?: number;
  /** Pods bound to a node are deleted gracefully (deletionTimestamp first), as with a real kubelet (default false). */
  podGracefulDeletion?: boolean;
  /** Request body limit (default 3 MiB, as kube-apiserver). */
  maxBodyBytes?: number;
  /** Answer aggregated discovery when asked (default true); false always answers the legacy documents. */
  aggregatedDiscovery?: boolean;
  /** Request log entries kept (default 10,000; counters are exact regardless). */
  requestLogLimit?: number;
  /** Gzip responses of 128 KiB or more when the client accepts gzip, as kube-apiserver does (default true). */
  compression?: boolean;
  /** How long a read for a future resourceVersion waits before 504 (default 3000 ms). */
  tooLargeResourceVersionWaitMs?: number;
}

export type PartitionMode = 'refuse' | 'blackhole';
export type PatchType = keyof typeof PATCH_TYPES | string;

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
const PROBE_PATHS = new Set(['/healthz', '/livez', '/readyz']);
const MIB = 1024 * 1024;
const GZIP_THRESHOLD = 128 * 1024;

function truthy(v: string | null): boolean {
  return v === '1' || v === 'true';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((p) => {
    const t = p.split(';')[0]!.trim().toLowerCase();
    return t === 'application/json' || t === '*/*' || t === 'application/*' || t === 'application/yaml';
  });
}

function stripTypeMeta(o: SimObject): SimObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as SimObject;
}

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
  private readonly tokens = new Map<string, { user: string; groups: string[] }>();
  private readonly revoked = new Set<string>();
  private mode: 'up' | 'stopped' | PartitionMode = 'stopped';
  private latencyMs = 0;
  private denials: TrafficFilter[] = [];
  private throttles: Array<{ remaining: number; retryAfterSeconds: number; match: TrafficFilter }> = [];

  constructor(
    private readonly opts: SimulatorOptions,
    dir: string,
    pki: Pki | undefined,
  ) {
    this.dir = dir;
    this.pki = pki;
    this.tls = pki !== undefined;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.store = new SimStore({
      historyLimit: opts.historyLimit,
      podGracefulDeletion: opts.podGracefulDeletion,
    });
    this.counters = new Counters(opts.requestLogLimit ?? 10_000);
    for (const [token, u] of Object.entries(opts.tokens ?? {})) {
      this.addToken(token, typeof u === 'string' ? u : u.user, typeof u === 'string' ? [] : (u.groups ?? []));
    }
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) this.sendError(res, undefined, err);
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
    this.revoked.add(typeof cert === 'string' ? cert.toUpperCase() : cert.serial);
  }

  addToken(token: string, user: string, groups: string[] = []): void {
    this.tokens.set(token, { user, groups });
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
   * Closes every open watch stream: by default cut like a failing network (socket destroyed);
   * `{graceful: true}` ends them cleanly as an API server restart would.
   */
  dropWatches(o: { graceful?: boolean } = {}): number {
    const all = [...this.watches.keys()];
    for (const w of all) o.graceful ? w.end() : w.destroy();
    return all.length;
  }

  /**
   * The next `nextN` requests matching `match` (default: every request except /healthz, /livez,
   * /readyz, which API priority and fairness exempts) get 429 with Retry-After.
   */
  throttle(nextN: number, retryAfterSeconds: number, match: TrafficFilter = {}): void {
    this.throttles.push({ remaining: nextN, retryAfterSeconds, match });
  }

  /**
   * Requests matching `match` (e.g. {user: 'system:node:b', resource: 'secrets'}) get 403 Forbidden,
   * as RBAC would answer, until the returned function is called.
   */
  deny(match: TrafficFilter): () => void {
    this.denials.push(match);
    return () => {
      this.denials = this.denials.filter((d) => d !== match);
    };
  }

  /** Forgets history at and below `rv` (default: the current revision): older resourceVersions get 410. */
  compact(rv?: number): void {
    this.store.compact(rv);
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

  // ---------------------------------------------------------------- request handling

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.mode === 'blackhole') return this.hold(res);
    if (this.latencyMs > 0) {
      await sleep(this.latencyMs);
      if (this.isBlackholed()) return this.hold(res);
    }
    res.setHeader('Audit-Id', randomUUID());
    const method = req.method ?? 'GET';
    let r: SimRequest;
    try {
      r = parseRequest(method, req.url ?? '/');
    } catch (err) {
      return this.sendError(res, undefined, err);
    }
    const q = r.query;
    const record: RequestRecord = {
      time: Date.now(),
      method,
      path: r.path,
      query: Object.fromEntries(q),
      verb: r.verb,
      group: r.group,
      resource: r.isResource ? r.resourceName : '',
      subresource: r.subresource,
      namespace: r.namespace,
      name: r.name,
      labelSelector: q.get('labelSelector') ?? '',
      fieldSelector: q.get('fieldSelector') ?? '',
      status: 0,
      bytes: 0,
    };
    try {
      record.identity = this.authenticate(req, r.path);
    } catch (err) {
      this.counters.record(record);
      return this.sendError(res, record, err);
    }
    this.counters.record(record);
    try {
      this.checkThrottle(record);
      this.authorize(record);
      // There is no OpenAPI v2 (protobuf) here: a plain 404 lets kubectl fall back.
      if (r.path.startsWith('/openapi/v2')) throw errors.unknownPath();
      if (!r.isResource && !acceptsJson(req.headers.accept)) throw errors.notAcceptable();
      if (!r.isResource) {
        if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed();
        const a = this.nonResourceAnswer(req.headers.accept, r.path);
        if (typeof a.body === 'string') return this.sendText(res, record, 200, a.body);
        return this.sendJson(res, record, 200, a.body, a.type);
      }
      await this.serveResource(req, res, r, record);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else this.sendError(res, record, err);
    }
  }

  /** A method, not a field read, so checks after an await are not narrowed away. */
  private isBlackholed(): boolean {
    return this.mode === 'blackhole';
  }

  private hold(res: ServerResponse): void {
    this.heldResponses.add(res);
    res.on('close', () => this.heldResponses.delete(res));
  }

  private authenticate(req: IncomingMessage, path: string): Identity {
    const socket = req.socket as TLSSocket;
    if (this.tls && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const serial = (cert.serialNumber ?? '').toUpperCase();
      if (!this.revoked.has(serial)) {
        const o = cert.subject?.O;
        const groups = Array.isArray(o) ? o : o ? [o] : [];
        return {
          user: String(cert.subject?.CN ?? ''),
          groups: [...groups, 'system:authenticated'],
          via: 'cert',
          certSerial: serial,
        };
      }
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      const u = this.tokens.get(auth.slice(7).trim());
      if (u) return { user: u.user, groups: [...u.groups, 'system:authenticated'], via: 'token' };
      throw errors.unauthorized();
    }
    const anonymousAllowed = this.opts.anonymous ?? !this.tls;
    if (anonymousAllowed || PUBLIC_PATHS.has(path)) {
      return { user: 'system:anonymous', groups: ['system:unauthenticated'], via: 'anonymous' };
    }
    throw errors.unauthorized();
  }

  private authorize(rec: RequestRecord): void {
    const key = filterKey(rec);
    if (!this.denials.some((d) => filterMatches(d, key))) return;
    const user = rec.identity?.user ?? 'system:anonymous';
    if (!rec.resource) {
      throw new StatusError(
        403,
        'Forbidden',
        `forbidden: User "${user}" cannot ${rec.verb} path "${rec.path}"`,
      );
    }
    const scope = rec.namespace ? `in the namespace "${rec.namespace}"` : 'at the cluster scope';
    const what = rec.subresource ? `${rec.resource}/${rec.subresource}` : rec.resource;
    const named = rec.name ? ` "${rec.name}"` : '';
    throw new StatusError(
      403,
      'Forbidden',
      `${rec.resource}${named} is forbidden: User "${user}" cannot ${rec.verb} resource "${what}" in API group "${rec.group}" ${scope}`,
      { name: rec.name || undefined, group: rec.group, kind: rec.resource },
    );
  }

  private checkThrottle(rec: RequestRecord): void {
    if (PROBE_PATHS.has(rec.path)) return;
    const key = filterKey(rec);
    for (const t of this.throttles) {
      if (t.remaining <= 0 || !filterMatches(t.match, key)) continue;
      t.remaining--;
      this.throttles = this.throttles.filter((x) => x.remaining > 0);
      throw errors.tooManyRequests(t.retryAfterSeconds);
    }
  }

  /** Discovery, OpenAPI, /version and health: what the non-resource paths answer. */
  private nonResourceAnswer(accept: string | undefined, rawPath: string): { body: unknown; type?: string } {
    const path = rawPath.replace(/\/+$/, '') || '/';
    if (/^\/(healthz|livez|readyz)(\/.*)?$/.test(path))
      return { body: 'ok', type: 'text/plain; charset=utf-8' };
    if (path === '/version') {
      return {
        body: {
          major: '1',
          minor: '32',
          gitVersion: 'v1.32.0-islet-sim',
          gitCommit: '0000000000000000000000000000000000000000',
          gitTreeState: 'clean',
          buildDate: '2026-01-01T00:00:00Z',
          goVersion: 'go1.23.0',
          compiler: 'gc',
          platform: 'linux/amd64',
        },
      };
    }
    if (path === '/api' || path === '/apis') {
      const want = this.opts.aggregatedDiscovery === false ? 'legacy' : negotiateDiscovery(accept);
      if (want !== 'legacy') {
        return {
          body: aggregatedDiscovery(path === '/api', want),
          type: want === 'v2' ? AGGREGATED_V2 : AGGREGATED_V2BETA1,
        };
      }
      return { body: path === '/api' ? apiVersions(`${this.host}:${this.port}`) : apiGroupList() };
    }
    if (path === '/openapi/v3') return { body: openApiIndex() };
    const oa = openApiPathGv(path);
    const doc =
      (oa && openApiDocument(oa.group, oa.version)) ??
      (/^\/apis\/[^/]+$/.test(path) ? apiGroupDoc(path.slice('/apis/'.length)) : undefined) ??
      (/^\/api\/[^/]+$/.test(path) ? apiResourceList('', path.slice('/api/'.length)) : undefined) ??
      (/^\/apis\/[^/]+\/[^/]+$/.test(path)
        ? apiResourceList(path.split('/')[2]!, path.split('/')[3]!)
        : undefined);
    if (doc) return { body: doc };
    throw errors.unknownPath();
  }

  private async serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    r: SimRequest,
    rec: RequestRecord,
  ): Promise<void> {
    const resource = r.resource;
    if (!resource) throw errors.unknownPath();
    if (r.subresource && !resource.subresources.includes(r.subresource)) throw errors.unknownPath();
    const clusterWide = ['list', 'watch'].includes(r.verb);
    if (resource.namespaced && !r.namespace && !clusterWide) throw errors.unknownPath();
    const q = r.query;
    const dryRun = q.getAll('dryRun').includes('All');
    const ns = r.namespace;
    const rep = negotiate(req.headers.accept, r.verb === 'list');
    if (!rep) throw errors.notAcceptable();
    const includeObject = q.get('includeObject') ?? 'Metadata';
    if (!['None', 'Metadata', 'Object'].includes(includeObject)) {
      throw errors.badRequest(
        `includeObject: Unsupported value: "${includeObject}": supported values: "None", "Metadata", "Object"`,
      );
    }
    switch (r.verb) {
      case 'get': {
        if (r.subresource && r.subresource !== 'status') throw errors.unknownPath();
        const obj = this.store.get(resource, ns, r.name);
        if (rep.as === 'object') return this.sendJson(res, rec, 200, obj);
        const body =
          rep.as === 'Table'
            ? toTable(
                resource,
                [obj],
                { resourceVersion: obj.metadata.resourceVersion },
                { ...rep, includeObject, columns: true },
              )
            : partialObjectMetadata(obj, rep.version);
        return this.sendJson(res, rec, 200, body, contentType(rep, false));
      }
      case 'list':
        return this.serveList(res, r, rec, resource, rep, includeObject);
      case 'watch':
        if (r.subresource) throw errors.methodNotAllowed();
        return this.serveWatch(res, r, rec, resource, watchTransform(resource, rep, includeObject));
      case 'create': {
        if (r.name) throw errors.methodNotAllowed();
        const body = await this.readObject(req);
        return this.sendJson(res, rec, 201, this.store.create(resource, ns, body, { dryRun }));
      }
      case 'update': {
        if (!r.name) throw errors.methodNotAllowed();
        const body = await this.readObject(req);
        const existed = this.exists(resource, ns, r.name);
        const out = this.store.update(resource, ns, r.name, body, { subresource: r.subresource, dryRun });
        return this.sendJson(res, rec, existed ? 200 : 201, out);
      }
      case 'patch': {
        if (!r.name) throw errors.methodNotAllowed();
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type === PATCH_TYPES.apply) {
          throw new StatusError(
            415,
            'UnsupportedMediaType',
            'server-side apply is not supported by the simulator',
          );
        }
        if (!Object.values(PATCH_TYPES).includes(type as never)) throw errors.unsupportedMediaType(type);
        const patch = JSON.parse((await this.readBody(req)).toString('utf8') || 'null');
        const out = this.store.patch(resource, ns, r.name, type, patch, {
          subresource: r.subresource,
          dryRun,
        });
        return this.sendJson(res, rec, 200, out);
      }
      case 'delete': {
        if (r.subresource) throw errors.methodNotAllowed();
        const d = await this.deleteOptions(req, q);
        return this.sendJson(res, rec, 200, this.store.delete(resource, ns, r.name, d));
      }
      case 'deletecollection': {
        if (r.subresource || resource.resource === 'namespaces') throw errors.methodNotAllowed();
        const d = await this.deleteOptions(req, q);
        const items = this.store.deleteCollection(
          resource,
          ns,
          { labelSelector: q.get('labelSelector') ?? '', fieldSelector: q.get('fieldSelector') ?? '' },
          d,
        );
        return this.sendJson(res, rec, 200, {
          kind: `${resource.kind}List`,
          apiVersion: groupVersion(resource),
          metadata: { resourceVersion: String(this.store.rv) },
          items: items.map(stripTypeMeta),
        });
      }
      default:
        throw errors.methodNotAllowed();
    }
  }

  private exists(resource: SimResource, ns: string, name: string): boolean {
    try {
      this.store.get(resource, ns, name);
      return true;
    } catch {
      return false;
    }
  }

  /** A read for a resourceVersion newer than the store waits a little for it, as the watch cache does. */
  private async waitForRevision(rvParam: string): Promise<void> {
    if (!/^\d+$/.test(rvParam)) return;
    const want = Number(rvParam);
    const deadline = Date.now() + (this.opts.tooLargeResourceVersionWaitMs ?? 3000);
    while (this.store.rv < want && Date.now() < deadline) await sleep(20);
  }

  private async serveList(
    res: ServerResponse,
    r: SimRequest,
    rec: RequestRecord,
    resource: SimResource,
    rep: Representation,
    includeObject: string,
  ): Promise<void> {
    const q = r.query;
    const limitRaw = q.get('limit');
    const limit = limitRaw === null || limitRaw === '' ? 0 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0) throw errors.badRequest(`invalid limit "${limitRaw}"`);
    const rvParam = q.get('resourceVersion') ?? '';
    await this.waitForRevision(rvParam);
    const out = this.store.list(
      resource,
      {
        namespace: r.namespace,
        labelSelector: q.get('labelSelector') ?? '',
        fieldSelector: q.get('fieldSelector') ?? '',
        resourceVersion: rvParam,
        resourceVersionMatch: q.get('resourceVersionMatch') ?? '',
        limit,
        continue: q.get('continue') ?? '',
      },
      { clone: false },
    );
    const metadata: Record<string, unknown> = { resourceVersion: String(out.resourceVersion) };
    if (out.continue) metadata.continue = out.continue;
    if (out.remainingItemCount !== undefined) metadata.remainingItemCount = out.remainingItemCount;
    if (rep.as !== 'object') {
      const body =
        rep.as === 'Table'
          ? toTable(resource, out.items, metadata, { ...rep, includeObject, columns: true })
          : partialObjectMetadataList(out.items, metadata, rep.version);
      return this.sendJson(res, rec, 200, body, contentType(rep, true));
    }
    const head = JSON.stringify({
      kind: `${resource.kind}List`,
      apiVersion: groupVersion(resource),
      metadata,
    });
    const items = out.items.map((o) => listItemJson(o)).join(',');
    this.sendRaw(res, rec, 200, `${head.slice(0, -1)},"items":[${items}]}`);
  }

  private serveWatch(
    res: ServerResponse,
    r: SimRequest,
    rec: RequestRecord,
    resource: SimResource,
    transform: ((o: SimObject) => unknown) | undefined,
  ): void {
    const q = r.query;
    let fieldSelector = q.get('fieldSelector') ?? '';
    if (r.name) fieldSelector = [fieldSelector, `metadata.name=${r.name}`].filter(Boolean).join(',');
    const selectors = parseSelectors(resource, q.get('labelSelector') ?? '', fieldSelector);
    const rvParam = q.get('resourceVersion') ?? '';
    const rvMatch = q.get('resourceVersionMatch') ?? '';
    const sendInitial = q.get('sendInitialEvents');
    const bookmarks = truthy(q.get('allowWatchBookmarks'));
    if (sendInitial !== null) {
      if (rvMatch !== 'NotOlderThan') {
        throw errors.badRequest(
          'resourceVersionMatch: Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch=NotOlderThan',
        );
      }
      if (sendInitial === 'true' && !bookmarks) {
        throw errors.badRequest(
          'allowWatchBookmarks: Required value: allowWatchBookmarks must be true when sendInitialEvents=true',
        );
      }
    } else if (rvMatch !== '') {
      throw errors.badRequest(
        'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
      );
    }
    const timeoutRaw = q.get('timeoutSeconds');
    let timeoutSeconds = this.opts.defaultWatchTimeoutSeconds ?? 1800;
    if (timeoutRaw !== null && timeoutRaw !== '') {
      const t = Number(timeoutRaw);
      if (!Number.isInteger(t) || t < 0) throw errors.badRequest(`invalid timeoutSeconds "${timeoutRaw}"`);
      if (t > 0) timeoutSeconds = t;
    }
    const fromRv = rvParam === '' || rvParam === '0' ? undefined : parseResourceVersion(rvParam);
    const initial = sendInitial === 'true' || (sendInitial === null && fromRv === undefined);

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    rec.status = 200;
    const scope = { resource, namespace: r.namespace, selectors };
    const stream = new WatchStream(
      res,
      scope,
      (n) => this.counters.addBytes(rec, n),
      transform,
      (s) => {
        this.watches.delete(s);
        unsubscribe?.();
      },
    );
    let unsubscribe: (() => void) | undefined;
    if (this.isBlackholed()) stream.muted = true;
    if (!initial && fromRv !== undefined && fromRv < this.store.compactedRv) {
      stream.send(
        'ERROR',
        errors.gone(`too old resource version: ${fromRv} (${this.store.compactedRv})`).toStatus(),
      );
      stream.end();
      return;
    }
    this.watches.set(stream, rec);
    if (initial) {
      for (const obj of this.store.list(resource, { namespace: r.namespace }, { clone: false }).items) {
        if (matches(selectors, obj)) stream.send('ADDED', obj);
      }
      if (sendInitial === 'true') stream.bookmark(this.store.rv, { 'k8s.io/initial-events-end': 'true' });
    } else if (fromRv !== undefined) {
      for (const c of this.store.changesSince(fromRv)) stream.deliver(c);
    }
    const startRv = initial || fromRv === undefined ? this.store.rv : fromRv;
    unsubscribe = this.store.subscribe((c) => {
      if (c.rv > startRv) stream.deliver(c);
    });
    stream.start({
      bookmarkIntervalMs: bookmarks ? (this.opts.bookmarkIntervalMs ?? 1000) : undefined,
      currentRv: () => this.store.rv,
      timeoutMs: timeoutSeconds * 1000,
    });
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
    const raw = (await this.readBody(req)).toString('utf8').trim();
    const body = raw ? this.parseJson(raw) : {};
    if (!isPlainObject(body)) throw errors.badRequest('DeleteOptions must be a JSON object');
    const d: DeleteOptions = {};
    const grace = q.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
    if (grace !== undefined && grace !== null && grace !== '') d.gracePeriodSeconds = Number(grace);
    const policy = q.get('propagationPolicy') ?? body.propagationPolicy;
    if (typeof policy === 'string') {
      if (!['Orphan', 'Background', 'Foreground'].includes(policy)) {
        throw errors.badRequest(`propagationPolicy: Unsupported value: "${policy}"`);
      }
      d.propagationPolicy = policy;
    }
    if (isPlainObject(body.preconditions))
      d.preconditions = body.preconditions as DeleteOptions['preconditions'];
    const dry = Array.isArray(body.dryRun) ? body.dryRun : q.getAll('dryRun');
    d.dryRun = dry.includes('All');
    return d;
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.opts.maxBodyBytes ?? 3 * MIB;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return Promise.reject(errors.tooLarge(limit));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      req.on('data', (c: Buffer) => {
        if (failed) return;
        size += c.length;
        if (size > limit) {
          failed = true;
          reject(errors.tooLarge(limit));
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!failed) resolve(Buffer.concat(chunks));
      });
      req.on('error', reject);
    });
  }

  private parseJson(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
    }
  }

  private async readObject(req: IncomingMessage): Promise<SimObject> {
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    const body = await this.readBody(req);
    if (type === PROTOBUF) return decodeProtobufObject(body) as SimObject;
    const text = body.toString('utf8');
    let obj: unknown;
    if (type === 'application/json' || type === '*/*' || type === '') obj = this.parseJson(text);
    else if (type === 'application/yaml') {
      try {
        obj = YAML.parse(text);
      } catch (e) {
        throw errors.badRequest(`yaml parse error: ${(e as Error).message}`);
      }
    } else {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "${type}")`,
      );
    }
    if (!isPlainObject(obj)) throw errors.badRequest('the request body must be a JSON object');
    return obj as SimObject;
  }

  // ---------------------------------------------------------------- responses

  /**
   * Writes a whole response. Like kube-apiserver (APIResponseCompression), bodies of 128 KiB or more
   * are gzipped for clients that accept it; counters see the bytes actually sent.
   */
  private send(
    res: ServerResponse,
    rec: RequestRecord | undefined,
    code: number,
    body: string,
    type: string,
  ): void {
    let data = Buffer.from(body);
    const headers: Record<string, string | number> = {
      'Content-Type': type,
      'Cache-Control': 'no-cache, private',
    };
    const acceptEncoding = String(res.req?.headers['accept-encoding'] ?? '');
    if (this.opts.compression !== false && data.length >= GZIP_THRESHOLD && /\bgzip\b/.test(acceptEncoding)) {
      data = gzipSync(data);
      headers['Content-Encoding'] = 'gzip';
      headers.Vary = 'Accept-Encoding';
    }
    headers['Content-Length'] = data.length;
    res.writeHead(code, headers);
    res.end(data);
    if (rec) {
      rec.status = code;
      this.counters.addBytes(rec, data.length);
    }
  }

  private sendRaw(
    res: ServerResponse,
    rec: RequestRecord,
    code: number,
    json: string,
    type = 'application/json',
  ): void {
    this.send(res, rec, code, json, type);
  }

  private sendJson(
    res: ServerResponse,
    rec: RequestRecord | undefined,
    code: number,
    body: unknown,
    type = 'application/json',
  ): void {
    this.send(res, rec, code, JSON.stringify(body), type);
  }

  private sendText(res: ServerResponse, rec: RequestRecord, code: number, text: string): void {
    this.send(res, rec, code, text, 'text/plain; charset=utf-8');
  }

  private sendError(res: ServerResponse, rec: RequestRecord | undefined, err: unknown): void {
    const e =
      err instanceof StatusError
        ? err
        : err instanceof SyntaxError
          ? errors.badRequest(err.message)
          : new StatusError(
              500,
              'InternalError',
              `Internal error occurred: ${(err as Error)?.message ?? String(err)}`,
            );
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    if (e.code === 413) res.setHeader('Connection', 'close');
    this.sendJson(res, rec, e.code, e.toStatus());
  }
}

function filterKey(rec: RequestRecord): Record<string, string> {
  return {
    verb: rec.verb,
    group: rec.group,
    resource: rec.resource,
    subresource: rec.subresource,
    namespace: rec.namespace,
    labelSelector: rec.labelSelector,
    fieldSelector: rec.fieldSelector,
    user: rec.identity?.user ?? '',
    path: rec.path,
  };
}

function filterMatches(f: TrafficFilter, key: Record<string, string>): boolean {
  return Object.entries(f).every(([k, v]) => v === undefined || key[k] === v);
}

/**
 * How watch events carry objects for a representation: Tables of one row (column definitions in
 * the first event only) or PartialObjectMetadata; undefined keeps the objects.
 */
function watchTransform(
  resource: SimResource,
  rep: Representation,
  includeObject: string,
): ((o: SimObject) => unknown) | undefined {
  if (rep.as === 'object') return undefined;
  if (rep.as === 'PartialObjectMetadata') return (o) => partialObjectMetadata(o, rep.version);
  let first = true;
  return (o) => {
    const t = toTable(
      resource,
      [o],
      { resourceVersion: o.metadata.resourceVersion },
      { ...rep, includeObject, columns: first },
    );
    first = false;
    return t;
  };
}

/** Stored objects are immutable once committed, so their list form is serialized once. */
const itemJsonCache = new WeakMap<SimObject, string>();

function listItemJson(o: SimObject): string {
  let json = itemJsonCache.get(o);
  if (json === undefined) {
    json = JSON.stringify(stripTypeMeta(o));
    itemJsonCache.set(o, json);
  }
  return json;
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
