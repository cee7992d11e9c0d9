/**
 * The Kubernetes API over HTTP: one request in, routed the way kube-apiserver routes it
 * (discovery, OpenAPI, health, resources), authenticated and checked by Access, answered from
 * the store, with watches streamed from its history.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access } from './access.js';
import { readBody, readDeleteOptions, readObject } from './body.js';
import type { Counters, RequestRecord } from './counters.js';
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
import type { SimObject } from './object.js';
import { openApiDocument, openApiIndex, openApiPathGv } from './openapi.js';
import type { SimulatorOptions } from './options.js';
import { PATCH_TYPES } from './patch.js';
import { parseRequest, type SimRequest } from './request.js';
import { groupVersion, type SimResource } from './resources.js';
import type { Responder } from './respond.js';
import { errors, StatusError } from './status.js';
import { matches, parseResourceVersion, parseSelectors, type SimStore } from './store.js';
import {
  contentType,
  negotiate,
  partialObjectMetadata,
  partialObjectMetadataList,
  type Representation,
  toTable,
} from './table.js';
import { WatchStream } from './watch.js';

const MIB = 1024 * 1024;

/** What the network layer tells the API about the link and lends it. */
export interface NetworkState {
  isBlackholed(): boolean;
  /** Keeps a response unanswered (a blackholed request). */
  hold(res: ServerResponse): void;
  latencyMs(): number;
  /** host:port, for /api's serverAddressByClientCIDRs. */
  address(): string;
}

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

function parsePatch(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8') || 'null');
  } catch (e) {
    throw errors.badRequest(`the patch is not valid JSON: ${(e as Error).message}`);
  }
}

export class HttpApi {
  private readonly bodyLimit: number;

  constructor(
    private readonly store: SimStore,
    private readonly counters: Counters,
    private readonly access: Access,
    private readonly respond: Responder,
    private readonly opts: SimulatorOptions,
    /** Open watch streams and the request that opened each (read by Simulator.watchCount). */
    private readonly watches: Map<WatchStream, RequestRecord>,
    private readonly net: NetworkState,
  ) {
    this.bodyLimit = opts.maxBodyBytes ?? 3 * MIB;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.net.isBlackholed()) return this.net.hold(res);
    const latency = this.net.latencyMs();
    if (latency > 0) {
      await sleep(latency);
      if (this.net.isBlackholed()) return this.net.hold(res);
    }
    res.setHeader('Audit-Id', randomUUID());
    const method = req.method ?? 'GET';
    let r: SimRequest;
    try {
      r = parseRequest(method, req.url ?? '/');
    } catch (err) {
      return this.respond.error(res, undefined, err);
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
      userAgent: req.headers['user-agent'] ?? '',
      accept: req.headers.accept ?? '',
      contentType: req.headers['content-type'] ?? '',
      status: 0,
      bytes: 0,
    };
    try {
      record.identity = this.access.authenticate(req, r.path);
    } catch (err) {
      this.counters.record(record);
      return this.respond.error(res, record, err);
    }
    this.counters.record(record);
    try {
      this.access.checkThrottle(record);
      this.access.authorize(record);
      // There is no OpenAPI v2 (protobuf) here: a plain 404 lets kubectl fall back.
      if (r.path.startsWith('/openapi/v2')) throw errors.unknownPath();
      if (!r.isResource && !acceptsJson(req.headers.accept)) throw errors.notAcceptable();
      if (!r.isResource) {
        if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed();
        const a = this.nonResourceAnswer(req.headers.accept, r.path);
        if (typeof a.body === 'string') return this.respond.text(res, record, 200, a.body);
        return this.respond.json(res, record, 200, a.body, a.type);
      }
      await this.serveResource(req, res, r, record);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else this.respond.error(res, record, err);
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
      return { body: path === '/api' ? apiVersions(this.net.address()) : apiGroupList() };
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
        if (rep.as === 'object') return this.respond.json(res, rec, 200, obj);
        const body =
          rep.as === 'Table'
            ? toTable(
                resource,
                [obj],
                { resourceVersion: obj.metadata.resourceVersion },
                { ...rep, includeObject, columns: true },
              )
            : partialObjectMetadata(obj, rep.version);
        return this.respond.json(res, rec, 200, body, contentType(rep, false));
      }
      case 'list':
        return this.serveList(res, r, rec, resource, rep, includeObject);
      case 'watch':
        if (r.subresource) throw errors.methodNotAllowed();
        return this.serveWatch(res, r, rec, resource, watchTransform(resource, rep, includeObject));
      case 'create': {
        if (r.name) throw errors.methodNotAllowed();
        const body = await readObject(req, this.bodyLimit);
        return this.respond.json(res, rec, 201, this.store.create(resource, ns, body, { dryRun }));
      }
      case 'update': {
        if (!r.name) throw errors.methodNotAllowed();
        const body = await readObject(req, this.bodyLimit);
        const existed = this.exists(resource, ns, r.name);
        const out = this.store.update(resource, ns, r.name, body, { subresource: r.subresource, dryRun });
        return this.respond.json(res, rec, existed ? 200 : 201, out);
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
        const patch = parsePatch(await readBody(req, this.bodyLimit));
        const out = this.store.patch(resource, ns, r.name, type, patch, {
          subresource: r.subresource,
          dryRun,
        });
        return this.respond.json(res, rec, 200, out);
      }
      case 'delete': {
        if (r.subresource) throw errors.methodNotAllowed();
        const d = await readDeleteOptions(req, q, this.bodyLimit);
        return this.respond.json(res, rec, 200, this.store.delete(resource, ns, r.name, d));
      }
      case 'deletecollection': {
        if (r.subresource || resource.resource === 'namespaces') throw errors.methodNotAllowed();
        const d = await readDeleteOptions(req, q, this.bodyLimit);
        const items = this.store.deleteCollection(
          resource,
          ns,
          { labelSelector: q.get('labelSelector') ?? '', fieldSelector: q.get('fieldSelector') ?? '' },
          d,
        );
        return this.respond.json(res, rec, 200, {
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
      return this.respond.json(res, rec, 200, body, contentType(rep, true));
    }
    const head = JSON.stringify({
      kind: `${resource.kind}List`,
      apiVersion: groupVersion(resource),
      metadata,
    });
    const items = out.items.map((o) => listItemJson(o)).join(',');
    this.respond.raw(res, rec, 200, `${head.slice(0, -1)},"items":[${items}]}`);
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
    if (this.net.isBlackholed()) stream.muted = true;
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
