import type { Logger } from '../log.js';
import type { CacheStoreApi, KubeObject, UpstreamPool } from '../types.js';
import { UpstreamUnavailableError } from '../types.js';
import { applyOps } from './apply-write.js';
import { objectPath } from './classify.js';
import { PatchError } from './json-value.js';
import type { QueuedWrite } from './queue.js';
import { answerMessage, type JsonAnswer, upstreamJson } from './upstream-json.js';

/**
 * replayed: upstream has it. conflict: the object changed in a way the write cannot apply to
 * (replaced by a new uid, precondition failed, or still conflicting after retries). gone: the
 * object or namespace no longer exists. rejected: upstream refused it (4xx). deferred: upstream
 * is unavailable or overloaded; the row stays queued and the replay stops here, keeping order.
 */
export type ReplayOutcome = 'replayed' | 'conflict' | 'gone' | 'rejected' | 'deferred';

const MAX_CONFLICT_RETRIES = 5;

export class Replayer {
  constructor(
    private readonly pool: UpstreamPool,
    private readonly store: CacheStoreApi,
    private readonly log: Logger | undefined,
  ) {}

  async replay(entry: QueuedWrite): Promise<ReplayOutcome> {
    try {
      return entry.kind === 'create' ? await this.replayCreate(entry) : await this.replayOps(entry);
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) return 'deferred';
      // a reset mid-response is the link failing again, not the write's fault: keep it queued
      if (isTransportError(err)) return 'deferred';
      throw err;
    }
  }

  /**
   * Re-applies the queued ops: first as computed locally, at the upstream version they were
   * based on (exact when nobody else wrote meanwhile); on 409 refetch and re-apply to the fresh
   * object, a few times.
   */
  private async replayOps(e: QueuedWrite): Promise<ReplayOutcome> {
    const scope = e.subresource === 'status' ? 'status' : 'object';
    const writePath = objectPath(e.gvr, e.namespace, e.name, e.subresource);
    const readPath = objectPath(e.gvr, e.namespace, e.name);
    let candidate: KubeObject | undefined = e.baseRv
      ? { ...e.object, metadata: { ...e.object.metadata, resourceVersion: e.baseRv } }
      : undefined;
    for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
      if (!candidate) {
        const fresh = await upstreamJson(this.pool, 'GET', readPath, e.identity);
        if (fresh.status === 404) return this.done(e, 'gone', fresh);
        if (!ok(fresh.status)) return this.failed(e, fresh);
        const current = fresh.body as KubeObject;
        if (
          e.object.metadata.uid &&
          current.metadata?.uid &&
          current.metadata.uid !== e.object.metadata.uid
        ) {
          this.log?.warn('queued write dropped: the object was replaced upstream', {
            ...describe(e),
            queuedUid: e.object.metadata.uid,
            upstreamUid: current.metadata.uid,
          });
          return 'conflict';
        }
        try {
          candidate = applyOps(current, e.ops, scope);
        } catch (err) {
          if (err instanceof PatchError) {
            this.log?.warn('queued write no longer applies upstream', { ...describe(e), error: err.message });
            return 'conflict';
          }
          throw err;
        }
      }
      const put = await upstreamJson(this.pool, 'PUT', writePath, e.identity, candidate);
      if (ok(put.status)) {
        this.remember(e, put);
        return 'replayed';
      }
      if (put.status === 409) {
        this.log?.info('queued write conflicted upstream; refetching', { ...describe(e), attempt });
        candidate = undefined;
        continue;
      }
      if (put.status === 404) return this.done(e, 'gone', put);
      return this.failed(e, put);
    }
    this.log?.warn('queued write still conflicts after retries', describe(e));
    return 'conflict';
  }

  /** Creates the event; AlreadyExists means an earlier replay got through (or a twin): merge counts. */
  private async replayCreate(e: QueuedWrite): Promise<ReplayOutcome> {
    const body = forCreate(e.object);
    const post = await upstreamJson(this.pool, 'POST', objectPath(e.gvr, e.namespace, ''), e.identity, body);
    if (ok(post.status)) {
      this.remember(e, post);
      return 'replayed';
    }
    if (post.status === 404) return this.done(e, 'gone', post);
    if (post.status !== 409) return this.failed(e, post);
    const path = objectPath(e.gvr, e.namespace, e.name);
    for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
      const existing = await upstreamJson(this.pool, 'GET', path, e.identity);
      if (!ok(existing.status)) return this.failed(e, existing);
      const merged = mergeOccurrences(existing.body as KubeObject, e.object);
      if (!merged) {
        this.remember(e, existing);
        return 'replayed';
      }
      const put = await upstreamJson(this.pool, 'PUT', path, e.identity, merged);
      if (ok(put.status)) {
        this.remember(e, put);
        return 'replayed';
      }
      if (put.status !== 409) return this.failed(e, put);
    }
    return 'conflict';
  }

  private remember(e: QueuedWrite, answer: JsonAnswer): void {
    const obj = answer.body as KubeObject | undefined;
    if (obj?.metadata?.name) this.store.upsertObject(e.gvr, obj);
    this.log?.info('queued write replayed', {
      ...describe(e),
      resourceVersion: obj?.metadata?.resourceVersion,
    });
  }

  private done(e: QueuedWrite, outcome: ReplayOutcome, answer: JsonAnswer): ReplayOutcome {
    this.log?.warn(`queued write ${outcome}`, {
      ...describe(e),
      status: answer.status,
      message: answerMessage(answer),
    });
    return outcome;
  }

  private failed(e: QueuedWrite, answer: JsonAnswer): ReplayOutcome {
    if (answer.status === 429 || answer.status >= 500) return 'deferred';
    return this.done(e, 'rejected', answer);
  }
}

function ok(status: number): boolean {
  return status >= 200 && status < 300;
}

function describe(e: QueuedWrite): Record<string, unknown> {
  return {
    resource: e.gvr.group ? `${e.gvr.resource}.${e.gvr.group}` : e.gvr.resource,
    namespace: e.namespace,
    name: e.name,
    subresource: e.subresource,
    writes: e.writes,
  };
}

function forCreate(obj: KubeObject): KubeObject {
  const { resourceVersion: _rv, uid: _uid, ...meta } = obj.metadata;
  return { ...obj, metadata: meta as KubeObject['metadata'] };
}

/** The upstream event with our occurrences added, or undefined when it already has them. */
function mergeOccurrences(upstream: KubeObject, queued: KubeObject): KubeObject | undefined {
  if (typeof queued.count === 'number') {
    const have = typeof upstream.count === 'number' ? upstream.count : 1;
    if (have >= queued.count) return undefined;
    return {
      ...upstream,
      count: queued.count,
      lastTimestamp: queued.lastTimestamp ?? upstream.lastTimestamp,
    };
  }
  const want = (queued.series as { count?: number } | undefined)?.count;
  const have = (upstream.series as { count?: number } | undefined)?.count ?? 1;
  if (want === undefined || have >= want) return undefined;
  return { ...upstream, series: queued.series };
}

function isTransportError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR'].includes(
      code,
    )
  );
}
