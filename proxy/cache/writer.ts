/**
 * A bounded queue in front of the store. Responses and watch streams hand their cache updates
 * here and carry on: the client is never held back by SQLite (each commit is an fsync with
 * synchronous=FULL). The queue drains in batches, one transaction per batch, yielding to the
 * event loop between batches.
 *
 * When the queue is full the update is dropped and what it belonged to is marked incomplete (a
 * view, or every view of a resource for a watch event), so the store never claims a list it does
 * not hold; the next complete LIST refills it.
 */
import type { Logger } from '../log.js';
import type { CacheQueue, CacheStoreApi, Gvr, ViewKey } from '../types.js';

export interface CacheWriterOptions {
  store: CacheStoreApi & { batch?(fn: () => void): void };
  /** Queued updates before new ones are dropped. Default 10,000. */
  maxQueue?: number;
  /** Updates per transaction. Default 256. */
  batchSize?: number;
  logger?: Logger;
}

/** What a queued update belongs to: a view (LIST), a resource (watch event), or nothing. */
export type WriteScope = ViewKey | Gvr;

interface Item {
  fn: () => void;
  scope: WriteScope | undefined;
  /** A barrier that re-marks a scope incomplete after what was queued before the drop. */
  mark?: boolean;
}

export class CacheWriter implements CacheQueue {
  private readonly store: CacheWriterOptions['store'];
  private readonly maxQueue: number;
  private readonly batchSize: number;
  private readonly logger: Logger | undefined;
  private queue: Item[] = [];
  private head = 0;
  private scheduled = false;
  private closed = false;
  private waiters: (() => void)[] = [];
  private readonly pendingMarks = new Set<string>();
  /** Updates dropped because the queue was full. */
  dropped = 0;
  /** Updates that threw when applied. */
  failed = 0;
  /** Updates applied. */
  applied = 0;

  constructor(opts: CacheWriterOptions) {
    this.store = opts.store;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.batchSize = opts.batchSize ?? 256;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 1) {
      throw new Error(`CacheWriter: maxQueue must be a positive integer, got ${opts.maxQueue}`);
    }
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new Error(`CacheWriter: batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    this.logger = opts.logger;
  }

  /** Updates waiting to be applied. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queues a store update. Returns false when it was dropped (queue full or writer closed); its
   * scope is then marked incomplete.
   */
  enqueue(fn: () => void, scope?: WriteScope): boolean {
    if (this.closed) return false;
    if (this.pending >= this.maxQueue) {
      this.dropped++;
      this.overflow(scope);
      return false;
    }
    this.queue.push({ fn, scope });
    this.schedule();
    return true;
  }

  /** Resolves when everything queued so far has been applied. */
  flush(): Promise<void> {
    if (this.pending === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Applies what is queued, then refuses new updates. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private overflow(scope: WriteScope | undefined): void {
    if (!scope) {
      this.logger?.warn('cache queue full: update dropped', { pending: this.pending });
      return;
    }
    const key = scopeKey(scope);
    if (this.pendingMarks.has(key)) return;
    this.pendingMarks.add(key);
    this.logger?.warn('cache queue full: marking incomplete', { scope: key, pending: this.pending });
    // Now, so no offline read trusts the view meanwhile; and again after what is already queued,
    // so a LIST queued before the drop cannot mark the view complete again.
    this.markIncomplete(scope);
    this.queue.push({ fn: () => this.markIncomplete(scope), scope, mark: true });
    this.schedule();
  }

  private markIncomplete(scope: WriteScope): void {
    try {
      if (isView(scope)) this.store.markViewIncomplete(scope);
      else this.store.markGvrIncomplete(scope);
    } catch (err) {
      this.logger?.error('cache: cannot mark incomplete', { err, scope: scopeKey(scope) });
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    const batch = this.queue.slice(this.head, this.head + this.batchSize);
    this.head += batch.length;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const run = (): void => {
      for (const item of batch) this.apply(item);
    };
    try {
      if (this.store.batch) this.store.batch(run);
      else run();
    } catch (err) {
      // The commit itself failed (disk full, I/O error): none of the batch is in the store.
      this.logger?.error('cache: batch commit failed', { err, updates: batch.length });
      for (const item of batch) if (item.scope) this.markIncomplete(item.scope);
    }
    if (this.pending > 0) {
      setImmediate(() => this.drain());
      return;
    }
    this.scheduled = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private apply(item: Item): void {
    if (item.mark && item.scope) this.pendingMarks.delete(scopeKey(item.scope));
    try {
      // Its own savepoint inside the batch: a failing update leaves nothing half-applied.
      if (this.store.batch) this.store.batch(item.fn);
      else item.fn();
      this.applied++;
    } catch (err) {
      this.failed++;
      this.logger?.warn('cache update failed', { err, scope: item.scope ? scopeKey(item.scope) : undefined });
      if (item.scope) this.markIncomplete(item.scope);
    }
  }
}

function isView(scope: WriteScope): scope is ViewKey {
  return (scope as ViewKey).gvr !== undefined;
}

function scopeKey(scope: WriteScope): string {
  if (isView(scope)) {
    const g = scope.gvr;
    return `${scope.identity}|${g.group}/${g.version}/${g.resource}|${scope.namespace}|${scope.labelSelector}|${scope.fieldSelector}`;
  }
  return `${scope.group}/${scope.version}/${scope.resource}`;
}
