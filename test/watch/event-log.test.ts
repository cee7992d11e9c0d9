import { describe, expect, it } from 'vitest';
import { parseResourceVersion } from '../../proxy/resource-version.js';
import { Backoff, parseRetryAfter } from '../../proxy/watch/backoff.js';
import { EventLog, LogBudget, type LogEntry } from '../../proxy/watch/event-log.js';

const entry = (rv: number, name = `ns/o${rv}`): LogEntry => ({
  rv: BigInt(rv),
  type: 'MODIFIED',
  name,
  line: `{"type":"MODIFIED","object":{"metadata":{"name":"${name}","resourceVersion":"${rv}"}}}\n`,
});

describe('EventLog', () => {
  it('keeps the bytes of all logs sharing a budget near its max, and hands them back on reset', () => {
    const size = entry(1).line.length;
    const budget = new LogBudget(size * 10);
    const a = new EventLog(0n, { maxEvents: 1000, maxBytes: 1 << 20, budget });
    const b = new EventLog(0n, { maxEvents: 1000, maxBytes: 1 << 20, budget });
    for (let rv = 1; rv <= 30; rv++) {
      a.append(entry(rv));
      b.append(entry(rv));
      // Over by at most one entry per log.
      expect(budget.bytes).toBeLessThanOrEqual(size * 12);
    }
    expect(budget.bytes).toBe(a.byteSize + b.byteSize);
    // What was dropped is no longer answerable: the start moved up.
    expect(a.since(1n)).toBeUndefined();
    expect(a.since(a.start)!.length).toBe(a.size);
    a.reset(a.head);
    b.reset(b.head);
    expect(budget.bytes).toBe(0);
  });

  it('answers "events after x" for any x from its start, in order', () => {
    const log = new EventLog(10n, { maxEvents: 100, maxBytes: 1 << 20 });
    for (const rv of [11, 13, 17]) expect(log.append(entry(rv))).toBe(true);
    expect(log.head).toBe(17n);
    expect(log.since(10n)!.map((e) => e.rv)).toEqual([11n, 13n, 17n]);
    expect(log.since(12n)!.map((e) => e.rv)).toEqual([13n, 17n]);
    expect(log.since(13n)!.map((e) => e.rv)).toEqual([17n]);
    expect(log.since(17n)).toEqual([]);
    // A watcher ahead of the log (it listed elsewhere) waits for newer events.
    expect(log.since(99n)).toEqual([]);
    expect(log.since(9n)).toBeUndefined();
  });

  it('refuses duplicates and versions going backwards (a resumed watch repeating itself)', () => {
    const log = new EventLog(0n, { maxEvents: 10, maxBytes: 1 << 20 });
    expect(log.append(entry(5))).toBe(true);
    expect(log.append(entry(5))).toBe(false);
    expect(log.append(entry(3))).toBe(false);
    expect(log.size).toBe(1);
  });

  it('drops its oldest events past the bound and moves its start up with them', () => {
    const log = new EventLog(0n, { maxEvents: 3, maxBytes: 1 << 20 });
    for (let rv = 1; rv <= 5; rv++) log.append(entry(rv));
    expect(log.size).toBe(3);
    expect(log.start).toBe(2n);
    expect(log.since(1n)).toBeUndefined();
    expect(log.since(2n)!.map((e) => e.rv)).toEqual([3n, 4n, 5n]);
  });

  it('bounds bytes as well as events', () => {
    const one = entry(1).line.length;
    const log = new EventLog(0n, { maxEvents: 1000, maxBytes: one * 2 + 1 });
    for (let rv = 1; rv <= 4; rv++) log.append(entry(rv));
    expect(log.size).toBe(2);
    expect(log.start).toBe(2n);
  });

  it('keeps working across many evictions (internal compaction)', () => {
    const log = new EventLog(0n, { maxEvents: 10, maxBytes: 1 << 30 });
    for (let rv = 1; rv <= 5000; rv++) log.append(entry(rv));
    expect(log.size).toBe(10);
    expect(log.since(4995n)!.map((e) => Number(e.rv))).toEqual([4996, 4997, 4998, 4999, 5000]);
  });

  it('bookmarks advance the head without entries; node-made events sit at the head', () => {
    const log = new EventLog(0n, { maxEvents: 10, maxBytes: 1 << 20 });
    log.append(entry(4));
    log.advance(9n);
    log.advance(7n);
    expect(log.head).toBe(9n);
    const local = log.appendAtHead({ type: 'MODIFIED', name: 'ns/x', line: '{}\n' });
    expect(local).toMatchObject({ rv: 9n, local: true });
    expect(log.since(4n)!.map((e) => e.name)).toEqual(['ns/x']);
    expect(log.append(entry(10))).toBe(true);
  });

  it('reset forgets history', () => {
    const log = new EventLog(0n, { maxEvents: 10, maxBytes: 1 << 20 });
    log.append(entry(4));
    log.reset(50n);
    expect([log.start, log.head, log.size]).toEqual([50n, 50n, 0]);
    expect(log.since(4n)).toBeUndefined();
  });
});

describe('resource versions', () => {
  it('parses integers only', () => {
    expect(parseResourceVersion('123')).toBe(123n);
    expect(parseResourceVersion('')).toBeUndefined();
    expect(parseResourceVersion('12a')).toBeUndefined();
    expect(parseResourceVersion('-1')).toBeUndefined();
  });
});

describe('Backoff', () => {
  it('doubles its ceiling up to the maximum and spreads delays over the upper half', () => {
    const lows = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => lows.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const highs = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5].map(() => highs.next())).toEqual([100, 200, 400, 800, 1000]);
    highs.reset();
    expect(highs.next()).toBe(100);
  });

  it('waits at least as long as the server asked', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    expect(b.next(7000)).toBe(7000);
  });

  it('rejects nonsense limits', () => {
    expect(() => new Backoff({ baseMs: 0, maxMs: 10 })).toThrow(/baseMs/);
    expect(() => new Backoff({ baseMs: 10, maxMs: 5 })).toThrow(/maxMs/);
  });

  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(['2'])).toBe(2000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('999999')).toBe(300_000);
  });
});
