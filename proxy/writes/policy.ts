import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeResource } from '../request-info.js';
import { sendStatus } from '../status.js';
import type { Identity, RequestInfo, WritePolicyApi } from '../types.js';
import { UpstreamUnavailableError } from '../types.js';
import { answerError, refuse } from './answers.js';
import { classifyWrite, gvrOf } from './classify.js';
import { LeaseWrites, type LeaseWritesDeps } from './lease.js';
import { QueuedWrites, type QueuedWritesDeps } from './queued-writes.js';
import { createTargetName } from './write-body.js';

export interface WritePolicyOptions extends Omit<QueuedWritesDeps, 'now'>, Omit<LeaseWritesDeps, 'now'> {
  now?: () => number;
}

/**
 * What the node accepts while the link to the API server is down (design.md "Write policy"):
 * kubelet's node lease renewals while kubelet is alive (lease.ts), node/pod status writes and
 * Events queued durably with a truthful local answer and replayed in order once the link is back
 * (queued-writes.ts), and a 503 Status for everything else (answers.ts). This class only decides
 * which of them a write is for.
 */
export class WritePolicy implements WritePolicyApi {
  private readonly queued: QueuedWrites;
  private readonly lease: LeaseWrites;

  constructor(private readonly opts: WritePolicyOptions) {
    const now = opts.now ?? Date.now;
    this.queued = new QueuedWrites({ ...opts, now });
    this.lease = new LeaseWrites({ ...opts, now });
  }

  /** Rows waiting for replay (objects + distinct events). */
  queuedCount(): number {
    return this.queued.size();
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
          this.lease.renewLocally(res, info, contentType, body);
          break;
        case 'status':
          this.queued.objectWrite(res, info, contentType, body, 'status');
          break;
        case 'event-create':
          this.queued.eventCreate(res, info, contentType, body);
          break;
        case 'event-write':
          this.queued.eventWrite(res, info, contentType, body);
          break;
        case 'refused':
          refuse(res, info);
          break;
      }
    } catch (err) {
      answerError(res, info, err, this.opts.log);
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
      const lease = this.lease.carriesLocalVersion(body);
      if (!lease) return false;
      try {
        await this.lease.resync(res, info, identity, lease);
      } catch (err) {
        // the link failed again under us: answer as offline, like any other write
        if (!(err instanceof UpstreamUnavailableError) || res.headersSent) throw err;
        await this.handleOffline(req, res, info, identity, body);
      }
      return true;
    }
    if ((cls.kind === 'status' || cls.kind === 'event-write') && this.queued.holds(info)) {
      try {
        await this.replay();
      } catch (err) {
        // the write still goes through; the row stays queued for the next replay
        this.opts.log?.error('write replay before an online write failed', { error: err });
      }
    }
    return false;
  }

  observeOnline(info: RequestInfo, _identity: Identity, body: Buffer, statusCode: number): void {
    if (statusCode < 200 || statusCode >= 300) return;
    if (classifyWrite(info).kind !== 'lease') return;
    this.lease.observeOnline(info, body);
  }

  /** Replays the queue in order; concurrent callers share one pass. */
  replay(): Promise<void> {
    return this.queued.replay();
  }

  close(): void {
    this.queued.close();
  }
}
