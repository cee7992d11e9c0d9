/**
 * One WATCH response: newline-delimited JSON events (the API server's JSON watch framing),
 * filtered by namespace and selectors with the API server's transitions (an object that stops
 * matching is delivered as DELETED, one that starts matching as ADDED), periodic BOOKMARKs and
 * the timeout the client asked for.
 */
import type { ServerResponse } from 'node:http';
import type { SimObject } from './object.js';
import { groupVersion, type SimResource } from './resources.js';
import type { StatusObject } from './status.js';
import { type Change, matches, type Selectors } from './store.js';

const MAX_UNREAD_BYTES = 64 * 1024 * 1024;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchScope {
  resource: SimResource;
  namespace: string;
  selectors: Selectors;
}

/** Maps a stored change onto what a watcher of `scope` sees, or nothing. */
export function eventFor(scope: WatchScope, c: Change): { type: EventType; object: SimObject } | undefined {
  if (c.resource !== scope.resource) return undefined;
  if (scope.namespace && c.namespace !== scope.namespace) return undefined;
  const now = c.type === 'DELETED' ? false : matches(scope.selectors, c.object);
  const before = c.prev ? matches(scope.selectors, c.prev) : false;
  if (c.type === 'DELETED') return before ? { type: 'DELETED', object: c.object } : undefined;
  if (now && before) return { type: 'MODIFIED', object: c.object };
  if (now) return { type: 'ADDED', object: c.object };
  if (before) return { type: 'DELETED', object: c.object };
  return undefined;
}

/**
 * Stored objects never change once committed, so the line for (type, object) is the same for every
 * watcher it is fanned out to: serialize it once.
 */
const lineCache = new WeakMap<object, Map<EventType, string>>();

function eventLine(type: EventType, object: SimObject | StatusObject): string {
  let byType = lineCache.get(object);
  if (!byType) {
    byType = new Map();
    lineCache.set(object, byType);
  }
  let line = byType.get(type);
  if (line === undefined) {
    line = `${JSON.stringify({ type, object })}\n`;
    byType.set(type, line);
  }
  return line;
}

export class WatchStream {
  private closed = false;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** Writes are suppressed (a blackholed network delivers nothing). */
  muted = false;

  constructor(
    readonly res: ServerResponse,
    readonly scope: WatchScope,
    private readonly onBytes: (n: number) => void,
    /** Re-shapes objects of ADDED/MODIFIED/DELETED events (Table rows, PartialObjectMetadata). */
    private readonly transform: ((o: SimObject) => unknown) | undefined,
    private readonly onClose: (s: WatchStream) => void,
  ) {
    res.on('close', () => this.cleanup());
  }

  start(opts: { bookmarkIntervalMs?: number; currentRv: () => number; timeoutMs: number }): void {
    if (opts.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.bookmark(opts.currentRv()), opts.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
    this.timeoutTimer = setTimeout(() => this.end(), opts.timeoutMs);
    this.timeoutTimer.unref();
  }

  send(type: EventType, object: SimObject | StatusObject): void {
    if (this.closed || this.muted) return;
    const shaped =
      this.transform && type !== 'BOOKMARK' && type !== 'ERROR'
        ? this.transform(object as SimObject)
        : object;
    const line =
      shaped === object ? eventLine(type, object) : `${JSON.stringify({ type, object: shaped })}\n`;
    const n = Buffer.byteLength(line);
    this.res.write(line);
    this.onBytes(n);
    // Like the API server's watch cache, a watcher that stops reading is cut off, not buffered forever.
    if (this.res.writableLength > MAX_UNREAD_BYTES) this.destroy();
  }

  bookmark(rv: number, annotations?: Record<string, string>): void {
    const metadata: Record<string, unknown> = { resourceVersion: String(rv), creationTimestamp: null };
    if (annotations) metadata.annotations = annotations;
    this.send('BOOKMARK', {
      kind: this.scope.resource.kind,
      apiVersion: groupVersion(this.scope.resource),
      metadata,
    } as SimObject);
  }

  deliver(c: Change): void {
    const ev = eventFor(this.scope, c);
    if (ev) this.send(ev.type, ev.object);
  }

  /** Ends the stream cleanly (what a timeout does). */
  end(): void {
    if (this.closed) return;
    this.res.end();
    this.cleanup();
  }

  /** Cuts the connection under the stream (what a network failure does). */
  destroy(): void {
    this.res.destroy();
    this.res.socket?.destroy();
    this.cleanup();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.bookmarkTimer);
    clearTimeout(this.timeoutTimer);
    this.onClose(this);
  }
}
