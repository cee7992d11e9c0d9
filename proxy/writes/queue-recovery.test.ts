import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../lib/sqlite.js';
import type { KubeObject } from '../types.js';
import type { WriteOp } from './apply-write.js';
import { WriteQueue, type WriteQueueOptions } from './queue.js';

const nodes = { group: '', version: 'v1', resource: 'nodes' };
const target = (name: string) => ({ gvr: nodes, namespace: '', name, subresource: 'status' });
const op: WriteOp = { type: 'merge-patch', body: { status: { phase: 'x' } } };

/** A node status of about 1.5 KB, so rows spread over many pages. */
function nodeStatus(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '10' },
    status: { conditions: [{ type: 'Ready', status: 'True', message: `${name} `.repeat(200) }] },
  };
}

type Recovered = Parameters<NonNullable<WriteQueueOptions['onRecovered']>>[0];

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-writes-recovery-'));
  dbPath = join(dir, 'writes.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function fill(count: number): Map<string, KubeObject> {
  const q = new WriteQueue(dbPath);
  const objects = new Map<string, KubeObject>();
  for (let i = 0; i < count; i++) {
    const name = `n${String(i).padStart(4, '0')}`;
    objects.set(name, nodeStatus(name));
    q.enqueueOps(target(name), '10', op, objects.get(name)!);
  }
  q.close();
  return objects;
}

function openRecording(): { q: WriteQueue; recovered: Recovered[] } {
  const recovered: Recovered[] = [];
  const q = new WriteQueue(dbPath, { onRecovered: (r) => recovered.push(r) });
  return { q, recovered };
}

/** Every row the queue holds is one of the originals, unchanged, and in the original order. */
function expectIntact(q: WriteQueue, objects: Map<string, KubeObject>): void {
  const rows = q.all();
  const names = [...objects.keys()];
  let last = -1;
  for (const row of rows) {
    expect(row.object).toEqual(objects.get(row.name));
    expect(row.ops).toEqual([op]);
    const at = names.indexOf(row.name);
    expect(at).toBeGreaterThan(last);
    last = at;
  }
}

describe('WriteQueue on a corrupt writes.db', () => {
  it('salvages the rows of a file whose middle pages are garbage, keeps the bad file, counts the lost', () => {
    const objects = fill(300);
    const raw = openDatabase(dbPath);
    const leaves = raw
      .prepare<[], { pageno: number }>(
        "SELECT pageno FROM dbstat WHERE name = 'islet_writes_v1' AND pagetype = 'leaf' ORDER BY pageno",
      )
      .all()
      .map((r) => r.pageno);
    const pageSize = raw.pragma('page_size', { simple: true }) as number;
    raw.close();
    const hit = leaves.slice(Math.floor(leaves.length / 2), Math.floor(leaves.length / 2) + 3);
    const bytes = readFileSync(dbPath);
    for (const no of hit) randomBytes(pageSize).copy(bytes, (no - 1) * pageSize);
    writeFileSync(dbPath, bytes);
    const original = Buffer.from(bytes);

    const { q, recovered } = openRecording();
    expect(recovered).toHaveLength(1);
    const r = recovered[0]!;
    expect(r.salvaged).toBe(q.size());
    // three 4 KiB pages of ~1.5 KB rows hold a handful of rows: those and no others are lost
    expect(r.lost).toBeGreaterThan(0);
    expect(r.lost).toBeLessThanOrEqual(3 * 3);
    expect(r.salvaged + r.lost).toBe(300);
    expectIntact(q, objects);
    // the bad file is kept as it was, beside the new one
    expect(r.movedTo).toMatch(/writes\.db\.corrupt-/);
    expect(readFileSync(r.movedTo).equals(original)).toBe(true);
    // and the queue goes on working on the fresh file
    q.enqueueOps(target('after'), '11', op, nodeStatus('after'));
    expect(q.get('object:/nodes//after/status')?.object.metadata.name).toBe('after');
    q.close();
    const again = openRecording();
    expect(again.recovered).toHaveLength(0);
    expect(again.q.size()).toBe(r.salvaged + 1);
    again.q.close();
  });

  it('salvages every row of a file with a malformed header', () => {
    const objects = fill(40);
    const bytes = readFileSync(dbPath);
    randomBytes(100).copy(bytes, 0);
    writeFileSync(dbPath, bytes);

    const { q, recovered } = openRecording();
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ salvaged: 40, lost: 0 });
    expect(q.size()).toBe(40);
    expectIntact(q, objects);
    q.close();
  });

  it('recovers at run time when a row no longer parses, losing only that row', () => {
    const objects = fill(10);
    const { q, recovered } = openRecording();
    expect(recovered).toHaveLength(0);
    const other = openDatabase(dbPath);
    other.prepare("UPDATE islet_writes_v1 SET ops = '[{\"type\":' WHERE name = 'n0003'").run();
    other.close();

    const rows = q.all();
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ salvaged: 9, lost: 1 });
    expect(rows.map((r) => r.name)).not.toContain('n0003');
    expect(rows).toHaveLength(9);
    objects.delete('n0003');
    expectIntact(q, objects);
    expect(readdirSync(dir).some((f) => f.startsWith('writes.db.corrupt-'))).toBe(true);
    q.close();
  });

  it('an intact file is left alone', () => {
    fill(5);
    const { q, recovered } = openRecording();
    expect(recovered).toHaveLength(0);
    expect(q.size()).toBe(5);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    q.close();
  });
});

describe('WriteQueue and bearer tokens', () => {
  const token = `Bearer secret-${randomBytes(8).toString('hex')}`;

  it('drops token rows an older version queued and leaves no byte of the token in the files', () => {
    fill(3);
    // what an older version wrote: the Authorization header in the identity column, and a
    // replayed token row deleted without secure_delete (its bytes left in a free page)
    const old = openDatabase(dbPath);
    old.pragma('secure_delete = OFF');
    old.pragma('user_version = 0');
    const identity = JSON.stringify({ kind: 'token', id: 'token:abc', authorization: token });
    const insert = old.prepare(
      `INSERT INTO islet_writes_v1 (key, kind, grp, version, resource, namespace, name, subresource, identity,
         base_rv, ops, object, writes, revision, created_at, updated_at)
       VALUES (?, 'ops', '', 'v1', 'pods', 'ns', ?, 'status', ?, '1', '[]', ?, 1, 1, 0, 0)`,
    );
    for (let i = 0; i < 20; i++) {
      const obj = JSON.stringify({ metadata: { name: `p${i}` }, note: 'x'.repeat(3000) });
      insert.run(`object:/pods/ns/p${i}/status`, `p${i}`, identity, obj);
    }
    old.prepare("DELETE FROM islet_writes_v1 WHERE name IN ('p0', 'p1', 'p2', 'p3', 'p4')").run();
    old.close();
    expect(readFileSync(dbPath).includes(token)).toBe(true);

    const q = new WriteQueue(dbPath);
    expect(q.droppedTokenRows).toBe(15);
    expect(q.size()).toBe(3);
    expect(q.all().every((r) => r.identity.kind === 'node')).toBe(true);
    for (const f of [dbPath, `${dbPath}-wal`]) {
      if (existsSync(f)) expect(readFileSync(f).includes(token), f).toBe(false);
    }
    expect(q.db.pragma('secure_delete', { simple: true })).toBe(1);
    q.close();
    expect(readFileSync(dbPath).includes(token)).toBe(false);
  });
});
