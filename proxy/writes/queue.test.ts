import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../types.js';
import { applyOps, type WriteOp } from './apply-write.js';
import { prepareNewEvent } from './events.js';
import { QueueFullError, WriteQueue } from './queue.js';

const nodes = { group: '', version: 'v1', resource: 'nodes' };
const events = { group: '', version: 'v1', resource: 'events' };
const target = (name: string) => ({ gvr: nodes, namespace: '', name, subresource: 'status' });

const base: KubeObject = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'n1', uid: 'u1', resourceVersion: '10' },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
};

function event(reason: string, message: string, at: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: '', generateName: 'pod-a.' },
    involvedObject: { kind: 'Pod', namespace: 'ns', name: 'pod-a', uid: 'p1' },
    reason,
    message,
    count: 1,
    lastTimestamp: at,
  };
}

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-writes-queue-'));
  dbPath = join(dir, 'writes.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('WriteQueue', () => {
  it('coalesces writes per object: patches append in order, an update replaces the sequence', () => {
    const q = new WriteQueue(dbPath);
    const p1: WriteOp = {
      type: 'strategic-merge-patch',
      body: { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    };
    const p2: WriteOp = { type: 'merge-patch', body: { status: { phase: 'x' } } };
    q.enqueueOps(target('n1'), '10', p1, applyOps(base, [p1], 'status'));
    const second = q.enqueueOps(target('n1'), '10', p2, applyOps(base, [p1, p2], 'status'));
    expect(q.size()).toBe(1);
    expect(second.ops).toEqual([p1, p2]);
    expect(second.writes).toBe(2);
    expect(second.object.status).toEqual({ conditions: [{ type: 'Ready', status: 'False' }], phase: 'x' });

    const put: WriteOp = { type: 'update', body: { metadata: { name: 'n1' }, status: { phase: 'y' } } };
    const third = q.enqueueOps(target('n1'), '10', put, applyOps(base, [put], 'status'));
    expect(third.ops).toEqual([put]);
    expect(third.seq).toBe(second.seq);
    expect(third.revision).toBe(second.revision + 1);

    q.enqueueOps(target('n2'), '11', p1, base);
    expect(q.all().map((e) => e.name)).toEqual(['n1', 'n2']);
    q.close();
  });

  it('folds a long patch sequence into one update of the local result', () => {
    const q = new WriteQueue(dbPath, { maxOpsPerEntry: 3 });
    let obj = base;
    for (let i = 0; i < 5; i++) {
      const op: WriteOp = { type: 'merge-patch', body: { status: { n: i } } };
      obj = applyOps(obj, [op], 'status');
      q.enqueueOps(target('n1'), '10', op, obj);
    }
    const [entry] = q.all();
    expect(entry!.ops.length).toBeLessThanOrEqual(3);
    expect(applyOps(base, entry!.ops, 'status').status).toEqual(obj.status);
    q.close();
  });

  it('deduplicates events by involved object, reason and message with a count', () => {
    const q = new WriteQueue(dbPath);
    const t = { gvr: events, namespace: 'ns', name: '', subresource: '' };
    const now = new Date('2026-01-01T00:00:00Z');
    const a = q.enqueueEvent(t, prepareNewEvent('', 'ns', event('BackOff', 'restarting', 't1'), now));
    const b = q.enqueueEvent(t, prepareNewEvent('', 'ns', event('BackOff', 'restarting', 't2'), now));
    const c = q.enqueueEvent(t, prepareNewEvent('', 'ns', event('Pulled', 'pulled', 't3'), now));
    expect(a.folded).toBe(false);
    expect(b.folded).toBe(true);
    expect(c.folded).toBe(false);
    expect(b.entry.object.metadata.name).toBe(a.entry.object.metadata.name);
    expect(b.entry.object.count).toBe(2);
    expect(b.entry.object.lastTimestamp).toBe('t2');
    expect(q.size()).toBe(2);
    expect(q.findCreate(events, 'ns', a.entry.object.metadata.name)?.seq).toBe(a.entry.seq);
    q.close();
  });

  it('refuses a new row when full instead of dropping one, but still coalesces', () => {
    const q = new WriteQueue(dbPath, { maxEntries: 1 });
    const op: WriteOp = { type: 'merge-patch', body: { status: {} } };
    q.enqueueOps(target('n1'), '10', op, base);
    expect(() => q.enqueueOps(target('n2'), '10', op, base)).toThrow(QueueFullError);
    expect(q.enqueueOps(target('n1'), '10', op, base).writes).toBe(2);
    q.close();
  });

  it('removes a row only at the revision that was sent, and keeps everything across reopen', () => {
    const q = new WriteQueue(dbPath);
    const op: WriteOp = { type: 'merge-patch', body: { status: { a: 1 } } };
    const sent = q.enqueueOps(target('n1'), '10', op, base);
    q.enqueueOps(target('n1'), '10', op, base);
    expect(q.remove(sent)).toBe(false);
    q.enqueueOps(target('n2'), '10', op, base);
    q.close();

    const reopened = new WriteQueue(dbPath);
    const rows = reopened.all();
    expect(rows.map((r) => [r.name, r.writes])).toEqual([
      ['n1', 2],
      ['n2', 1],
    ]);
    expect(reopened.remove(rows[0]!)).toBe(true);
    expect(reopened.size()).toBe(1);
    reopened.close();
  });
});
