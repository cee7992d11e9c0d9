import { LRUCache } from 'lru-cache';
import type { WatchEventType } from '../types.js';

/**
 * One event as the log keeps it: serialized once, written as-is to every watcher that needs it.
 * `name` is `namespace/name`, so replays and diffs can tell objects apart without parsing.
 */
export interface LogEntry {
  rv: bigint;
  type: WatchEventType;
  name: string;
  /** `{"type":…,"object":…}\n`, ready for the wire. */
  line: string;
  /** A change the node made itself (no upstream version of its own). */
  local?: boolean;
}

export interface EventLogOptions {
  /** Entries kept before the oldest are dropped (the log's start then moves up). */
  maxEvents: number;
  /** Bytes of serialized events kept, whichever limit is hit first. */
  maxBytes: number;
  /** Shared by every log of a hub: the bytes all of them hold together stay near its max. */
  budget?: LogBudget;
}

/**
 * The hub-wide bound on logged bytes. Each log trims its own oldest entries while the total is
 * over the max, so the total exceeds it by at most one entry per log.
 */
export class LogBudget {
  bytes = 0;
  constructor(readonly maxBytes: number) {
    if (!(maxBytes >= 1)) throw new Error('log budget must be positive');
  }
  get over(): boolean {
    return this.bytes > this.maxBytes;
  }
}

/**
 * The bounded in-memory log of one shared watch: it holds every event with start < rv <= head,
 * in upstream order. Older history lives only in the store (see SharedWatch's reconstruction).
 */
export class EventLog {
  private entries: LogEntry[] = [];
  private first = 0;
  private bytes = 0;
  private startRv: bigint;
  private headRv: bigint;

  constructor(
    startRv: bigint,
    private readonly opts: EventLogOptions,
  ) {
    if (opts.maxEvents < 1 || opts.maxBytes < 1) throw new Error('event log limits must be positive');
    this.startRv = startRv;
    this.headRv = startRv;
  }

  /** Exclusive lower bound: a watcher at or after it can be served from the log alone. */
  get start(): bigint {
    return this.startRv;
  }

  /** The newest resourceVersion the log knows all changes up to. */
  get head(): bigint {
    return this.headRv;
  }

  get size(): number {
    return this.entries.length - this.first;
  }

  /**
   * Appends an upstream event. Its version must not go backwards: an event at or below the head
   * is a duplicate of one already delivered (e.g. after a resume) and is refused (returns false).
   */
  append(entry: LogEntry): boolean {
    if (entry.rv <= this.headRv) return false;
    this.push(entry);
    this.headRv = entry.rv;
    return true;
  }

  /**
   * Appends an event that carries no new upstream version (a change the node made itself while
   * offline): it is logged at the current head so later watchers from an older version see it.
   */
  appendAtHead(entry: Omit<LogEntry, 'rv' | 'local'>): LogEntry {
    const e: LogEntry = { ...entry, rv: this.headRv, local: true };
    this.push(e);
    return e;
  }

  /** A bookmark: nothing changed up to rv. */
  advance(rv: bigint): void {
    if (rv > this.headRv) this.headRv = rv;
  }

  /** Events after rv, or undefined when rv is older than the log's start (history dropped). */
  since(rv: bigint): LogEntry[] | undefined {
    if (rv < this.startRv) return undefined;
    let lo = this.first;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo);
  }

  /** Bytes of serialized events held now. */
  get byteSize(): number {
    return this.bytes;
  }

  /** Forgets everything: the key's history restarts at rv (used when continuity is lost). */
  reset(rv: bigint): void {
    this.entries = [];
    this.first = 0;
    this.account(-this.bytes);
    this.startRv = rv;
    this.headRv = rv;
  }

  private push(entry: LogEntry): void {
    this.entries.push(entry);
    this.account(entry.line.length);
    const budget = this.opts.budget;
    while (
      this.size > this.opts.maxEvents ||
      ((this.bytes > this.opts.maxBytes || budget?.over) && this.size > 1)
    ) {
      const dropped = this.entries[this.first]!;
      this.entries[this.first] = undefined as unknown as LogEntry; // let the line be collected
      this.first++;
      this.account(-dropped.line.length);
      // Everything up to the dropped event's version is no longer answerable from the log.
      if (dropped.rv > this.startRv) this.startRv = dropped.rv;
    }
    if (this.first > 1024 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }

  private account(delta: number): void {
    this.bytes += delta;
    if (this.opts.budget) this.opts.budget.bytes += delta;
  }
}

/**
 * One copy of an event's line for every log that holds it. Keys whose selectors overlap each get
 * the same change on their own upstream stream: 300 keys over the same pods would log the same
 * line 300 times. A line equal to a recent one (same object, version and type) is logged as that
 * one. Lines cut from a stream are copied flat first: a slice of a V8 string keeps the whole
 * chunk it was read in alive, which the byte accounting cannot see.
 */
export class SharedLines {
  private readonly recent: LRUCache<string, string>;

  constructor(max = 10_000) {
    this.recent = new LRUCache<string, string>({ max });
  }

  /** `line` as it should be kept: an equal recent line, or a flat copy of it. */
  share(type: WatchEventType, name: string, rv: bigint, line: string): string {
    const key = `${type} ${rv} ${name}`;
    const known = this.recent.get(key);
    if (known === line) return known;
    const own = Buffer.from(line, 'utf8').toString('utf8');
    this.recent.set(key, own);
    return own;
  }
}
