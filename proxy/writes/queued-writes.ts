/**
 * The writes the node queues while offline: node and pod status, and Events. Each is applied to
 * the cached object with a local resourceVersion, kept durably in writes.db (queue.ts), answered
 * truthfully, fanned out to local watchers, and replayed upstream in order once the link is back
 * (replay.ts), on every link-up and on a timer while rows remain.
 */
import type { ServerResponse } from 'node:http';
import type { Database } from '../../lib/sqlite.js';
import type { Logger } from '../log.js';
import type { Counter, MetricsRegistry } from '../metrics.js';
import { nextLocalResourceVersion, upstreamBaseOf } from '../resource-version.js';
import type { CacheStoreApi, KubeObject, RequestInfo, UpstreamPool, WatchHubApi } from '../types.js';
import { alreadyExists, neverRead, notFound, sendJson } from './answers.js';
import { applyOp, opFromRequest, WriteRequestError } from './apply-write.js';
import { gvrOf } from './classify.js';
import { eventDedupKey, prepareNewEvent } from './events.js';
import { NODE_IDENTITY, objectKey, WriteQueue } from './queue.js';
import { Replayer } from './replay.js';
import { checkKind, checkNamespace, checkUpdatePrecondition } from './write-body.js';

export interface QueuedWritesDeps {
  /** The queue's SQLite database: a path (opened through lib/sqlite) or an open handle. */
  db: string | Database;
  store: CacheStoreApi;
  hub: Pick<WatchHubApi, 'emitLocal'>;
  pool: UpstreamPool;
  log?: Logger;
  registry?: MetricsRegistry;
  /** Queued objects + distinct events held at most (default 10000); beyond it writes get 503. */
  maxQueued?: number;
  /** Ops kept per queued object before folding them into one update (default 64). */
  maxOpsPerObject?: number;
  /** While online with a non-empty queue (e.g. upstream answered 5xx), retry this often (default 10 s). */
  retryIntervalMs?: number;
  now: () => number;
}

export class QueuedWrites {
  private readonly queue: WriteQueue;
  private readonly replayer: Replayer;
  private readonly replayed: Counter | undefined;
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: QueuedWritesDeps) {
    const { log, registry } = deps;
    const recovered = registry?.counter(
      'islet_writes_db_recovered_total',
      'Times writes.db was found corrupt, moved aside and started afresh with the writes salvaged from it.',
    );
    this.queue = new WriteQueue(deps.db, {
      maxEntries: deps.maxQueued,
      maxOpsPerEntry: deps.maxOpsPerObject,
      now: deps.now,
      onRecovered: (r) => {
        recovered?.inc();
        log?.error('writes.db is corrupt: moved aside, queue restarted with the writes salvaged from it', {
          movedTo: r.movedTo,
          salvaged: r.salvaged,
          lost: r.lost,
          reason: r.reason,
        });
      },
    });
    if (this.queue.droppedTokenRows > 0) {
      log?.warn('queued writes of bearer-token identities dropped: tokens are not kept at rest', {
        dropped: this.queue.droppedTokenRows,
      });
    }
    this.replayer = new Replayer(deps.pool, deps.store, log);
    if (registry) {
      const queued = registry.gauge(
        'islet_writes_queued',
        'Writes accepted offline and waiting for replay (objects + distinct events).',
      );
      queued.onCollect(() => queued.set({}, this.queue.size()));
      this.replayed = registry.counter(
        'islet_writes_replayed_total',
        'Queued writes sent upstream, by outcome.',
        ['outcome'],
      );
    }
    this.unsubscribe = deps.pool.onLinkChange((online) => {
      if (online) this.kick();
    });
    const retryMs = deps.retryIntervalMs ?? 10_000;
    if (!(retryMs > 0)) throw new Error(`WritePolicy: retryIntervalMs must be positive, got ${retryMs}`);
    this.timer = setInterval(() => this.kick(), retryMs);
    this.timer.unref();
    // a queue left by a crash goes out as soon as we are online
    setImmediate(() => this.kick());
  }

  /** Rows waiting for replay (objects + distinct events). */
  size(): number {
    return this.queue.size();
  }

  /** Whether the object a request names has writes waiting (its own or its queued create). */
  holds(info: RequestInfo): boolean {
    const gvr = gvrOf(info);
    const key = objectKey({ gvr, namespace: info.namespace, name: info.name, subresource: info.subresource });
    return (this.queue.get(key) ?? this.queue.findCreate(gvr, info.namespace, info.name)) !== undefined;
  }

  /** A status write (or a write to an event that exists upstream): applied locally, queued for replay. */
  objectWrite(
    res: ServerResponse,
    info: RequestInfo,
    contentType: string | undefined,
    body: Buffer,
    scope: 'status' | 'object',
  ): void {
    const { store, hub } = this.deps;
    const gvr = gvrOf(info);
    const op = opFromRequest(info.verb, contentType, body);
    const current = store.getObject(gvr, info.namespace, info.name);
    if (!current) throw notFound(info);
    // The answer carries the object: only the node's writes are queued at all.
    if (!store.mayRead(NODE_IDENTITY.id, gvr, current)) throw neverRead(info, info.name);
    checkUpdatePrecondition(op, current, info);
    const result = applyOp(current, op, scope);
    result.metadata.resourceVersion = nextLocalResourceVersion(current.metadata.resourceVersion);
    this.queue.enqueueOps(
      { gvr, namespace: info.namespace, name: info.name, subresource: scope === 'status' ? 'status' : '' },
      upstreamBaseOf(current.metadata.resourceVersion),
      op,
      result,
    );
    hub.emitLocal(gvr, { type: 'MODIFIED', object: result });
    sendJson(res, 200, result);
  }

  eventCreate(res: ServerResponse, info: RequestInfo, contentType: string | undefined, body: Buffer): void {
    const { store, hub } = this.deps;
    const gvr = gvrOf(info);
    const op = opFromRequest('create', contentType, body);
    const sent = op.body as unknown as KubeObject;
    checkKind(sent, info);
    checkNamespace(sent, info);
    let prepared: KubeObject;
    try {
      prepared = prepareNewEvent(gvr.group, info.namespace, sent, new Date(this.deps.now()));
    } catch (err) {
      throw new WriteRequestError(400, (err as Error).message);
    }
    const queuedTwin = this.queue.get(eventDedupKey(gvr.group, info.namespace, prepared));
    if (!queuedTwin) {
      const name = prepared.metadata.name;
      if (store.getObject(gvr, info.namespace, name) || this.queue.findCreate(gvr, info.namespace, name)) {
        throw alreadyExists(info, name);
      }
    }
    prepared.metadata.resourceVersion = nextLocalResourceVersion(
      queuedTwin?.object.metadata.resourceVersion ?? store.resourceVersion(gvr),
    );
    const { entry, folded } = this.queue.enqueueEvent(
      { gvr, namespace: info.namespace, name: prepared.metadata.name, subresource: '' },
      prepared,
    );
    hub.emitLocal(gvr, { type: folded ? 'MODIFIED' : 'ADDED', object: entry.object });
    // What an identity created offline it may read back offline.
    store.grant(NODE_IDENTITY.id, gvr, info.namespace, entry.object.metadata.name);
    sendJson(res, 201, entry.object);
  }

  eventWrite(res: ServerResponse, info: RequestInfo, contentType: string | undefined, body: Buffer): void {
    const gvr = gvrOf(info);
    const queued = this.queue.findCreate(gvr, info.namespace, info.name);
    if (!queued) {
      this.objectWrite(res, info, contentType, body, 'object');
      return;
    }
    // an event created offline: the write changes what the queued create will create
    if (!this.deps.store.mayRead(NODE_IDENTITY.id, gvr, queued.object)) throw neverRead(info, info.name);
    const op = opFromRequest(info.verb, contentType, body);
    checkUpdatePrecondition(op, queued.object, info);
    const result = applyOp(queued.object, op, 'object');
    result.metadata.resourceVersion = nextLocalResourceVersion(queued.object.metadata.resourceVersion);
    this.queue.replaceCreate(queued, result);
    this.deps.hub.emitLocal(gvr, { type: 'MODIFIED', object: result });
    sendJson(res, 200, result);
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
    if (this.closed || this.running || !this.deps.pool.isOnline() || this.queue.size() === 0) return;
    this.replay().catch((err: unknown) => this.deps.log?.error('write replay failed', { error: err }));
  }

  private async replayAll(): Promise<void> {
    // rows changed while being sent stay queued; another pass sends their newer state
    for (let pass = 0; pass < 3; pass++) {
      let changedMeanwhile = false;
      for (const entry of this.queue.all()) {
        if (this.closed || !this.deps.pool.isOnline()) return;
        const outcome = await this.replayer.replay(entry);
        this.replayed?.inc({ outcome });
        if (outcome === 'deferred') return;
        if (!this.queue.remove(entry)) changedMeanwhile = true;
      }
      if (!changedMeanwhile) return;
    }
  }
}
