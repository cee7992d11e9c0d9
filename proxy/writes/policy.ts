import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Database } from '../../lib/sqlite.js';
import type { Logger } from '../log.js';
import type { Counter, MetricsRegistry } from '../metrics.js';
import {
  isLocalResourceVersion,
  newerObjectRv,
  nextLocalResourceVersion,
  upstreamBaseOf,
} from '../resource-version.js';
import { sendStatus } from '../status.js';
import type {
  CacheStoreApi,
  Identity,
  KubeObject,
  RequestInfo,
  UpstreamPool,
  WatchHubApi,
  WritePolicyApi,
} from '../types.js';
import { UpstreamUnavailableError } from '../types.js';
import { applyOp, opFromRequest, type WriteOp, WriteRequestError } from './apply-write.js';
import { classifyWrite, gvrOf, kindOf, objectPath } from './classify.js';
import { eventDedupKey, prepareNewEvent } from './events.js';
import { isObject, PatchError } from './json-value.js';
import { LeaseLiveness } from './lease-liveness.js';
import {
  decodeKubeProtobuf,
  decodeKubeProtobufMeta,
  isKubeProtobuf,
  PROTOBUF_CONTENT_TYPE,
} from './protobuf.js';
import { NODE_IDENTITY, objectKey, QueueFullError, WriteQueue } from './queue.js';
import { Replayer, type ReplayOutcome } from './replay.js';
import { upstreamJson } from './upstream-json.js';

export interface WritePolicyOptions {
  /** The queue's SQLite database: a path (opened through lib/sqlite) or an open handle. */
  db: string | Database;
  store: CacheStoreApi;
  hub: Pick<WatchHubApi, 'emitLocal'>;
  pool: UpstreamPool;
  log?: Logger;
  registry?: MetricsRegistry;
  /** How long after kubelet's last renewal its lease is still answered locally; default 2 × leaseDurationSeconds. */
  leaseAliveWindowMs?: number;
  /** Queued objects + distinct events held at most (default 10000); beyond it writes get 503. */
  maxQueued?: number;
  /** Ops kept per queued object before folding them into one update (default 64). */
  maxOpsPerObject?: number;
  /** While online with a non-empty queue (e.g. upstream answered 5xx), retry this often (default 10 s). */
  retryIntervalMs?: number;
  now?: () => number;
}

interface WriteMetrics {
  replayed: Counter;
  leaseRenewals: Counter;
}

/**
 * What the node accepts while the link to the API server is down (design.md "Write policy"):
 * kubelet's node lease renewals while kubelet is alive, node/pod status writes and Events queued
 * durably with a truthful local answer, and a 503 Status for everything else. Replays the queue
 * in order once the link is back.
 */
export class WritePolicy implements WritePolicyApi {
  private readonly queue: WriteQueue;
  private readonly liveness: LeaseLiveness;
  private readonly replayer: Replayer;
  private readonly metrics: WriteMetrics | undefined;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: WritePolicyOptions) {
    this.now = opts.now ?? Date.now;
    const recovered = opts.registry?.counter(
      'islet_writes_db_recovered_total',
      'Times writes.db was found corrupt, moved aside and started afresh with the writes salvaged from it.',
    );
    this.queue = new WriteQueue(opts.db, {
      maxEntries: opts.maxQueued,
      maxOpsPerEntry: opts.maxOpsPerObject,
      now: this.now,
      onRecovered: (r) => {
        recovered?.inc();
        opts.log?.error(
          'writes.db is corrupt: moved aside, queue restarted with the writes salvaged from it',
          {
            movedTo: r.movedTo,
            salvaged: r.salvaged,
            lost: r.lost,
            reason: r.reason,
          },
        );
      },
    });
    if (this.queue.droppedTokenRows > 0) {
      opts.log?.warn('queued writes of bearer-token identities dropped: tokens are not kept at rest', {
        dropped: this.queue.droppedTokenRows,
      });
    }
    this.liveness = new LeaseLiveness({ windowMs: opts.leaseAliveWindowMs, now: this.now });
    this.replayer = new Replayer(opts.pool, opts.store, opts.log);
    this.metrics = opts.registry && registerMetrics(opts.registry, this.queue);
    this.unsubscribe = opts.pool.onLinkChange((online) => {
      if (online) this.kick();
    });
    const retryMs = opts.retryIntervalMs ?? 10_000;
    if (!(retryMs > 0)) throw new Error(`WritePolicy: retryIntervalMs must be positive, got ${retryMs}`);
    this.timer = setInterval(() => this.kick(), retryMs);
    this.timer.unref();
    // a queue left by a crash goes out as soon as we are online
    setImmediate(() => this.kick());
  }

  /** Rows waiting for replay (objects + distinct events). */
  queuedCount(): number {
    return this.queue.size();
  }

  async handleOffline(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    identity: Identity,
    body: Buffer,
  ): Promise<void> {
    try {
      const contentType = req.headers['content-type'];
      const cls = classifyWrite(info);
      if (cls.kind === 'refused' && this.answerCreateOfHeld(res, info, identity, contentType, body)) return;
      // A queued write keeps the identity it replays as. For a bearer token that would be the
      // token itself, at rest in writes.db (and its free pages after replay): so only the node's
      // own writes (kubelet on loopback, our client certificate) are taken offline.
      if (identity.kind !== 'node' && cls.kind !== 'refused') {
        refuse(res, info, ': writes made with a bearer token are not queued (the token would be stored)');
        return;
      }
      switch (cls.kind) {
        case 'lease':
          this.renewLeaseLocally(res, info, contentType, body);
          break;
        case 'status':
          this.queueObjectWrite(res, info, contentType, body, 'status');
          break;
        case 'event-create':
          this.queueEventCreate(res, info, contentType, body);
          break;
        case 'event-write':
          this.queueEventWrite(res, info, contentType, body);
          break;
        case 'refused':
          refuse(res, info);
          break;
      }
    } catch (err) {
      this.answerError(res, info, err);
    }
  }

  /**
   * A create of an object the cache holds, which this identity read: the API server's answer is
   * 409 AlreadyExists whatever the link, and clients act on it (kubelet registering its Node at
   * boot goes on to read and patch the one it has). Anything else stays refused: the node cannot
   * promise a create the API server would decide.
   */
  private answerCreateOfHeld(
    res: ServerResponse,
    info: RequestInfo,
    identity: Identity,
    contentType: string | undefined,
    body: Buffer,
  ): boolean {
    if (info.verb !== 'create' || info.name !== '' || info.subresource !== '') return false;
    const name = createTargetName(contentType, body);
    if (!name) return false;
    const gvr = gvrOf(info);
    const held = this.opts.store.getObject(gvr, info.namespace, name);
    if (!held || !this.opts.store.mayRead(identity.id, gvr, held)) return false;
    sendStatus(res, 409, 'AlreadyExists', `${describeResource(info)} "${name}" already exists`, {
      name,
      group: info.group,
      kind: info.resource,
    });
    return true;
  }

  /**
   * Called before an online write is passed through. Returns true when it answered the request
   * itself: a lease update that carries a local resourceVersion is re-applied to the upstream
   * lease (so the first renewal after reconnect does not fail with 409). A write to an object
   * that still has queued writes waits for their replay so upstream sees them in order.
   */
  async handleOnline(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    identity: Identity,
    body: Buffer,
  ): Promise<boolean> {
    const cls = classifyWrite(info);
    if (cls.kind === 'lease' && info.verb === 'update') {
      const lease = parseObject(body);
      if (lease && isLocalResourceVersion(lease.metadata.resourceVersion)) {
        try {
          await this.resyncLease(res, info, identity, lease);
        } catch (err) {
          // the link failed again under us: answer as offline, like any other write
          if (!(err instanceof UpstreamUnavailableError) || res.headersSent) throw err;
          await this.handleOffline(req, res, info, identity, body);
        }
        return true;
      }
      return false;
    }
    if (cls.kind === 'status' || cls.kind === 'event-write') {
      const gvr = gvrOf(info);
      const queued =
        this.queue.get(
          objectKey({ gvr, namespace: info.namespace, name: info.name, subresource: info.subresource }),
        ) ?? this.queue.findCreate(gvr, info.namespace, info.name);
      if (queued) {
        try {
          await this.replay();
        } catch (err) {
          // the write still goes through; the row stays queued for the next replay
          this.opts.log?.error('write replay before an online write failed', { error: err });
        }
      }
    }
    return false;
  }

  observeOnline(info: RequestInfo, _identity: Identity, body: Buffer, statusCode: number): void {
    if (statusCode < 200 || statusCode >= 300) return;
    if (classifyWrite(info).kind !== 'lease') return;
    const lease = parseObject(body);
    this.liveness.record(info.name, leaseDuration(lease));
  }

  /** Replays the queue in order; concurrent callers share one pass. */
  replay(): Promise<void> {
    this.running ??= this.replayAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe();
    this.queue.close();
  }

  private kick(): void {
    if (this.closed || this.running || !this.opts.pool.isOnline() || this.queue.size() === 0) return;
    this.replay().catch((err: unknown) => this.opts.log?.error('write replay failed', { error: err }));
  }

  private async replayAll(): Promise<void> {
    // rows changed while being sent stay queued; another pass sends their newer state
    for (let pass = 0; pass < 3; pass++) {
      let changedMeanwhile = false;
      for (const entry of this.queue.all()) {
        if (this.closed || !this.opts.pool.isOnline()) return;
        const outcome = await this.replayer.replay(entry);
        this.count(outcome);
        if (outcome === 'deferred') return;
        if (!this.queue.remove(entry)) changedMeanwhile = true;
      }
      if (!changedMeanwhile) return;
    }
  }

  private count(outcome: ReplayOutcome): void {
    this.metrics?.replayed.inc({ outcome });
  }

  private renewLeaseLocally(
    res: ServerResponse,
    info: RequestInfo,
    contentType: string | undefined,
    body: Buffer,
  ): void {
    const gvr = gvrOf(info);
    const op = opFromRequest(info.verb, contentType, body);
    const current = this.opts.store.getObject(gvr, info.namespace, info.name);
    const sent = op.type === 'update' ? (op.body as unknown as KubeObject) : undefined;
    const liveness = this.liveness.check(info.name, leaseDuration(current) ?? leaseDuration(sent));
    if (!liveness.alive) {
      refuse(
        res,
        info,
        `: kubelet has not renewed lease ${info.namespace}/${info.name} for ${Math.round(liveness.silentMs / 1000)}s` +
          ` (more than ${Math.round(liveness.windowMs / 1000)}s), so the node is not reported alive`,
      );
      return;
    }
    let base: KubeObject;
    if (sent) {
      checkBodyMatchesUrl(sent, info);
      const sentRv = sent.metadata.resourceVersion;
      if (current && isLocalResourceVersion(sentRv) && sentRv !== current.metadata.resourceVersion) {
        throw conflict(info);
      }
      // the proxy may not have seen the last online renewal's answer: kubelet's own copy is as good
      base = current ?? sent;
    } else {
      if (!current) throw notFound(info);
      base = current;
    }
    const result = applyOp(base, op, 'object');
    const holderBefore = (current?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    const holderAfter = (result.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    if (holderBefore !== undefined && holderAfter !== holderBefore) {
      refuse(res, info, ': only renewals by the current holder are answered locally');
      return;
    }
    result.metadata.resourceVersion = nextLocalResourceVersion(
      newerObjectRv(current?.metadata.resourceVersion, sent?.metadata.resourceVersion),
    );
    this.liveness.record(info.name, leaseDuration(result));
    this.opts.hub.emitLocal(gvr, { type: current ? 'MODIFIED' : 'ADDED', object: result });
    this.metrics?.leaseRenewals.inc();
    sendJson(res, 200, result);
  }

  /** The API server's answer to a lease update, with the client's renewal re-applied to the newest lease. */
  private async resyncLease(
    res: ServerResponse,
    info: RequestInfo,
    identity: Identity,
    sent: KubeObject,
  ): Promise<void> {
    const gvr = gvrOf(info);
    const path = objectPath(gvr, info.namespace, info.name);
    // first as kubelet meant it, at the upstream version the local ones were based on; if the
    // lease changed upstream meanwhile (409), re-apply kubelet's spec to the newest lease
    let desired: KubeObject = {
      ...sent,
      metadata: { ...sent.metadata, resourceVersion: upstreamBaseOf(sent.metadata.resourceVersion) },
    };
    let last = await upstreamJson(this.opts.pool, 'PUT', path, identity, desired);
    for (let attempt = 0; attempt < 5 && last.status === 409; attempt++) {
      const fresh = await upstreamJson(this.opts.pool, 'GET', path, identity);
      if (fresh.status < 200 || fresh.status >= 300) {
        last = fresh;
        break;
      }
      const upstream = fresh.body as KubeObject;
      const spec = isObject(upstream.spec as never) ? (upstream.spec as object) : {};
      desired = { ...upstream, spec: { ...spec, ...(sent.spec as object) } };
      last = await upstreamJson(this.opts.pool, 'PUT', path, identity, desired);
    }
    if (last.status >= 200 && last.status < 300) {
      const renewed = last.body as KubeObject;
      this.opts.store.upsertObject(gvr, renewed);
      this.liveness.record(info.name, leaseDuration(renewed));
      this.opts.log?.info('lease renewal after local renewals sent upstream', {
        lease: `${info.namespace}/${info.name}`,
        localResourceVersion: sent.metadata.resourceVersion,
        resourceVersion: renewed.metadata.resourceVersion,
      });
    }
    res.writeHead(last.status, { 'Content-Type': 'application/json', 'Content-Length': last.raw.length });
    res.end(last.raw);
  }

  /** A status write (or a write to an event that exists upstream): applied locally, queued for replay. */
  private queueObjectWrite(
    res: ServerResponse,
    info: RequestInfo,
    contentType: string | undefined,
    body: Buffer,
    scope: 'status' | 'object',
  ): void {
    const gvr = gvrOf(info);
    const op = opFromRequest(info.verb, contentType, body);
    const current = this.opts.store.getObject(gvr, info.namespace, info.name);
    if (!current) throw notFound(info);
    // The answer carries the object: offline, only to an identity that read it (design.md §Proxy cache);
    // only the node's writes are queued at all.
    if (!this.opts.store.mayRead(NODE_IDENTITY.id, gvr, current)) {
      throw new WriteRequestError(
        503,
        `${describeResource(info)} "${info.name}" was never read by this client`,
      );
    }
    checkUpdatePrecondition(op, current, info);
    const result = applyOp(current, op, scope);
    result.metadata.resourceVersion = nextLocalResourceVersion(current.metadata.resourceVersion);
    this.queue.enqueueOps(
      { gvr, namespace: info.namespace, name: info.name, subresource: scope === 'status' ? 'status' : '' },
      upstreamBaseOf(current.metadata.resourceVersion),
      op,
      result,
    );
    this.opts.hub.emitLocal(gvr, { type: 'MODIFIED', object: result });
    sendJson(res, 200, result);
  }

  private queueEventCreate(
    res: ServerResponse,
    info: RequestInfo,
    contentType: string | undefined,
    body: Buffer,
  ): void {
    const gvr = gvrOf(info);
    const op = opFromRequest('create', contentType, body);
    const sent = op.body as unknown as KubeObject;
    checkKind(sent, info);
    checkNamespace(sent, info);
    let prepared: KubeObject;
    try {
      prepared = prepareNewEvent(gvr.group, info.namespace, sent, new Date(this.now()));
    } catch (err) {
      throw new WriteRequestError(400, (err as Error).message);
    }
    const queuedTwin = this.queue.get(eventDedupKey(gvr.group, info.namespace, prepared));
    if (!queuedTwin) {
      const name = prepared.metadata.name;
      if (
        this.opts.store.getObject(gvr, info.namespace, name) ||
        this.queue.findCreate(gvr, info.namespace, name)
      ) {
        throw new WriteRequestError(
          409,
          `${describeResource(info)} "${name}" already exists`,
          'AlreadyExists',
        );
      }
    }
    prepared.metadata.resourceVersion = nextLocalResourceVersion(
      queuedTwin?.object.metadata.resourceVersion ?? this.opts.store.resourceVersion(gvr),
    );
    const { entry, folded } = this.queue.enqueueEvent(
      { gvr, namespace: info.namespace, name: prepared.metadata.name, subresource: '' },
      prepared,
    );
    this.opts.hub.emitLocal(gvr, { type: folded ? 'MODIFIED' : 'ADDED', object: entry.object });
    // What an identity created offline it may read back offline.
    this.opts.store.grant(NODE_IDENTITY.id, gvr, info.namespace, entry.object.metadata.name);
    sendJson(res, 201, entry.object);
  }

  private queueEventWrite(
    res: ServerResponse,
    info: RequestInfo,
    contentType: string | undefined,
    body: Buffer,
  ): void {
    const gvr = gvrOf(info);
    const queued = this.queue.findCreate(gvr, info.namespace, info.name);
    if (!queued) {
      this.queueObjectWrite(res, info, contentType, body, 'object');
      return;
    }
    // an event created offline: the write changes what the queued create will create
    if (!this.opts.store.mayRead(NODE_IDENTITY.id, gvr, queued.object)) {
      throw new WriteRequestError(
        503,
        `${describeResource(info)} "${info.name}" was never read by this client`,
      );
    }
    const op = opFromRequest(info.verb, contentType, body);
    checkUpdatePrecondition(op, queued.object, info);
    const result = applyOp(queued.object, op, 'object');
    result.metadata.resourceVersion = nextLocalResourceVersion(queued.object.metadata.resourceVersion);
    this.queue.replaceCreate(queued, result);
    this.opts.hub.emitLocal(gvr, { type: 'MODIFIED', object: result });
    sendJson(res, 200, result);
  }

  private answerError(res: ServerResponse, info: RequestInfo, err: unknown): void {
    if (err instanceof WriteRequestError) {
      if (err.code === 503) refuse(res, info, ` (${err.message})`);
      else sendStatus(res, err.code, err.reason, err.message, detailsOf(info));
      return;
    }
    if (err instanceof PatchError) {
      sendStatus(res, err.code, err.code === 409 ? 'Conflict' : '', err.message, detailsOf(info));
      return;
    }
    if (err instanceof QueueFullError) {
      refuse(res, info, `: ${err.message}`);
      return;
    }
    this.opts.log?.error('offline write failed', { error: err, path: info.path, verb: info.verb });
    sendStatus(res, 500, 'InternalError', `offline write failed: ${(err as Error).message}`);
  }
}

function registerMetrics(registry: MetricsRegistry, queue: WriteQueue): WriteMetrics {
  const queued = registry.gauge(
    'islet_writes_queued',
    'Writes accepted offline and waiting for replay (objects + distinct events).',
  );
  queued.onCollect(() => queued.set({}, queue.size()));
  return {
    replayed: registry.counter('islet_writes_replayed_total', 'Queued writes sent upstream, by outcome.', [
      'outcome',
    ]),
    leaseRenewals: registry.counter(
      'islet_lease_local_renewals_total',
      'Node lease renewals answered locally while offline.',
    ),
  };
}

/** The one answer for a write the node cannot take while offline. */
function refuse(res: ServerResponse, info: RequestInfo, why = ''): void {
  const what = info.isResourceRequest
    ? `${info.verb} ${describeResource(info)}`
    : `${info.verb} ${info.path}`;
  sendStatus(
    res,
    503,
    'ServiceUnavailable',
    `node is offline (link to the API server is down): ${what} is not accepted locally${why}`,
    detailsOf(info),
  );
}

function describeResource(info: RequestInfo): string {
  const resource = info.group ? `${info.resource}.${info.group}` : info.resource;
  return info.subresource ? `${resource}/${info.subresource}` : resource;
}

function detailsOf(info: RequestInfo): { name?: string; group?: string; kind?: string } | undefined {
  if (!info.isResourceRequest) return undefined;
  return { ...(info.name ? { name: info.name } : {}), group: info.group, kind: info.resource };
}

function notFound(info: RequestInfo): WriteRequestError {
  const resource = info.group ? `${info.resource}.${info.group}` : info.resource;
  return new WriteRequestError(404, `${resource} "${info.name}" not found`, 'NotFound');
}

function conflict(info: RequestInfo): WriteRequestError {
  const resource = info.group ? `${info.resource}.${info.group}` : info.resource;
  return new WriteRequestError(
    409,
    `Operation cannot be fulfilled on ${resource} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`,
    'Conflict',
  );
}

/**
 * A PUT body must be the object the URL names, as the API server checks before anything else:
 * same kind, same name, and (for a namespaced resource) no other namespace. A body of another
 * kind queued for a node would be replayed as that node's status.
 */
function checkBodyMatchesUrl(sent: KubeObject, info: RequestInfo): void {
  checkKind(sent, info);
  if (sent.metadata.name !== info.name) {
    throw new WriteRequestError(
      400,
      `the name of the object (${String(sent.metadata.name ?? '')}) does not match the name on the URL (${info.name})`,
      'BadRequest',
    );
  }
  checkNamespace(sent, info);
}

function checkKind(sent: KubeObject, info: RequestInfo): void {
  const kind = kindOf(info);
  if (sent.kind !== undefined && sent.kind !== kind) {
    throw new WriteRequestError(
      400,
      `the kind of the object (${String(sent.kind)}) does not match the resource on the URL (${describeResource(info)}, kind ${kind})`,
      'BadRequest',
    );
  }
}

/** Like the API server: a namespaced object may omit its namespace but not name another one. */
function checkNamespace(sent: KubeObject, info: RequestInfo): void {
  const ns = sent.metadata.namespace;
  if (info.namespace && ns && ns !== info.namespace) {
    throw new WriteRequestError(
      400,
      `the namespace of the provided object (${String(ns)}) does not match the namespace sent on the request (${info.namespace})`,
      'BadRequest',
    );
  }
}

/** An update that names a resourceVersion must name the current one, as the API server demands. */
function checkUpdatePrecondition(op: WriteOp, current: KubeObject, info: RequestInfo): void {
  if (op.type !== 'update') return;
  const sent = op.body as unknown as KubeObject;
  checkBodyMatchesUrl(sent, info);
  const rv = sent.metadata.resourceVersion;
  if (rv && rv !== current.metadata.resourceVersion) throw conflict(info);
}

/** The object in a write's body (JSON or kubelet's protobuf), or undefined when it has none. */
function parseObject(body: Buffer): KubeObject | undefined {
  try {
    if (isKubeProtobuf(body)) return decodeKubeProtobuf(body);
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return isObject(v as never) && isObject((v as KubeObject).metadata as never)
      ? (v as KubeObject)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The name a create body asks for (JSON or any kind in protobuf); '' for generateName or an unreadable body. */
function createTargetName(contentType: string | undefined, body: Buffer): string {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  try {
    if (mediaType === PROTOBUF_CONTENT_TYPE) return decodeKubeProtobufMeta(body).metadata.name ?? '';
    if (mediaType !== '' && mediaType !== 'application/json') return '';
    const v = JSON.parse(body.toString('utf8')) as { metadata?: { name?: unknown } } | null;
    return typeof v?.metadata?.name === 'string' ? v.metadata.name : '';
  } catch {
    return '';
  }
}

function leaseDuration(lease: KubeObject | undefined): number | undefined {
  const d = (lease?.spec as { leaseDurationSeconds?: unknown } | undefined)?.leaseDurationSeconds;
  return typeof d === 'number' ? d : undefined;
}

function sendJson(res: ServerResponse, code: number, obj: unknown): void {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
