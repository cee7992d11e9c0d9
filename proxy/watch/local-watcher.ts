/**
 * One local client's watch stream: chunked `{"type":…,"object":…}\n` lines, flushed per event,
 * periodic BOOKMARKs when the client allowed them, and a clean end at its timeout. A local
 * watcher is only ever ended cleanly (timeout, slow reader, shutdown): client-go and client-node
 * resume from their last resourceVersion after a clean end, but some give up after an error.
 */
import type { ServerResponse } from 'node:http';
import type { KubeObject, WatchEventType } from '../types.js';
import { bookmarkLine } from './bookmark-shape.js';
import type { LogEntry } from './event-log.js';

export interface LocalWatcherOptions {
  res: ServerResponse;
  /** Events at or below this version are already known to the client. */
  fromRv: bigint;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutMs: number;
  /** Bytes buffered for a client that does not read before it is cut loose (it resumes). */
  maxBufferedBytes: number;
  /** kind/apiVersion for bookmark objects. */
  kindInfo: () => { kind: string; apiVersion: string };
  /** The version a bookmark may claim now (the shared watch's head). */
  headRv: () => bigint;
  onEvent: (type: WatchEventType) => void;
  onClose: (w: LocalWatcher) => void;
}

export class LocalWatcher {
  private lastRv: bigint;
  private closed = false;
  private live = true;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly o: LocalWatcherOptions) {
    this.lastRv = o.fromRv;
  }

  /**
   * Sends the headers; from here on the response is a stream of events. `live` false: periodic
   * bookmarks wait for goLive() (a bookmark claims the head, which a client still reading its
   * initial state from older pages has not reached).
   */
  start(live = true): void {
    this.live = live;
    const { res } = this.o;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    res.on('close', () => this.finish());
    this.timers.push(setTimeout(() => this.end(), this.o.timeoutMs));
    if (this.o.bookmarks) {
      const t = setInterval(() => {
        if (this.live) this.bookmark();
      }, this.o.bookmarkIntervalMs);
      this.timers.push(t);
    }
  }

  goLive(): void {
    this.live = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Version of the newest event this client has been sent (or started from). */
  get resourceVersion(): bigint {
    return this.lastRv;
  }

  /** A logged event; skipped if the client already has it. */
  deliver(entry: LogEntry): void {
    if (this.closed) return;
    // Node-made events carry no new version (they sit at the head): they are never duplicates.
    if (!entry.local && entry.rv <= this.lastRv) return;
    this.write(entry.line, entry.type);
    if (entry.rv > this.lastRv) this.lastRv = entry.rv;
  }

  /**
   * An event built for this client alone (synthetic ADDED, a replay from the store). It does not
   * move the watcher's position: live events are placed by the shared watch's head, not by the
   * version of an object the store happened to hold.
   */
  deliverObject(type: WatchEventType, object: KubeObject): void {
    if (this.closed) return;
    this.write(`${JSON.stringify({ type, object })}\n`, type);
  }

  /** Like deliverObject, for an object held as JSON text (the store's): no parse, no re-serialize. */
  deliverText(type: WatchEventType, objectJson: string): void {
    if (this.closed) return;
    this.write(`{"type":${JSON.stringify(type)},"object":${objectJson}}\n`, type);
  }

  /**
   * Resolves once the client has read what is buffered down to `lowWater` bytes (or is gone):
   * the initial state is written a page at a time, so a slow reader holds one page, not the scope.
   */
  drained(lowWater: number): Promise<void> {
    const { res } = this.o;
    if (this.closed || res.writableLength <= lowWater) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  bookmark(annotations?: Record<string, string>): void {
    if (this.closed) return;
    const head = this.o.headRv();
    if (head > this.lastRv) this.lastRv = head;
    const { kind, apiVersion } = this.o.kindInfo();
    const metadata: Record<string, unknown> = { resourceVersion: String(this.lastRv) };
    if (annotations) metadata.annotations = annotations;
    this.write(bookmarkLine(kind, apiVersion, metadata), 'BOOKMARK');
  }

  /** Sends an ERROR event (e.g. 410 Expired) and ends the stream, as the API server does. */
  fail(status: object): void {
    if (this.closed) return;
    this.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`, 'ERROR');
    this.end();
  }

  /** A clean end of the stream (the terminating chunk): the client resumes from its version. */
  end(): void {
    if (this.closed) return;
    this.o.res.end();
    this.finish();
  }

  private write(line: string, type: WatchEventType): void {
    const { res } = this.o;
    // The initial state is paced by drained() instead: a page of large objects may exceed the
    // bound once without the client being slow.
    if (this.live && res.writableLength > this.o.maxBufferedBytes) {
      // A reader this far behind would hold the whole log in our memory; it resumes after the end.
      this.end();
      return;
    }
    res.write(line);
    this.o.onEvent(type);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.o.onClose(this);
  }
}
