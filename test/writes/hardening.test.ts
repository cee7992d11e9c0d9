/**
 * The offline write path against hostile or broken input, through `dist/islet proxy`: patches
 * that aim at Object.prototype, writes made with a bearer token (never stored), bodies that are
 * not the object the URL names, and a writes.db that is no longer a database.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpJson } from '../proxy/harness.js';
import { send, startRig, type WritesRig } from './setup.js';

const TOKEN = `hardening-token-${process.pid}-${Date.now()}`;
const POD_STATUS = '/api/v1/namespaces/default/pods/web-1/status';
const NODE_STATUS = '/api/v1/nodes/node-a/status';

describe('offline write path hardening', () => {
  let rig: WritesRig;
  /** The node's own merge patch of web-1's status message: answered 200 (queued when offline). */
  const patchPodMessage = async (message: string) => {
    const r = await send(rig, 'PATCH', POD_STATUS, { status: { message } }, 'application/merge-patch+json');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  beforeAll(async () => {
    rig = await startRig();
    rig.sim.addToken(TOKEN, 'alice');
    rig.sim.create('nodes', { metadata: { name: 'node-a' }, status: { conditions: [] } });
    rig.sim.create('pods', {
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Pending' },
    });
    for (const path of ['/api/v1/nodes/node-a', '/api/v1/namespaces/default/pods/web-1']) {
      expect((await send(rig, 'GET', path)).status).toBe(200);
    }
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  it('answers patches through __proto__ or constructor with a 400 Status and keeps serving', async () => {
    await rig.offline();
    const attempts: [unknown, string][] = [
      [[{ op: 'add', path: '/__proto__/polluted', value: 1 }], 'application/json-patch+json'],
      [[{ op: 'add', path: '/status/constructor/prototype/x', value: 1 }], 'application/json-patch+json'],
    ];
    for (const [body, type] of attempts) {
      const r = await send(rig, 'PATCH', POD_STATUS, body, type);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 400 });
    }
    // JSON.stringify drops a __proto__ key of an object literal, so this one is sent as text
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      const r = await httpJson(`${rig.proxy.url}${POD_STATUS}`, {
        method: 'PATCH',
        headers: { 'content-type': type, accept: 'application/json' },
        body: '{"status":{"__proto__":{"phase":"Polluted"}}}',
      });
      expect(r.status, r.text).toBe(400);
      expect(r.body).toMatchObject({ kind: 'Status', code: 400 });
    }
    expect(await rig.metric('islet_writes_queued')).toBe(0);
    // an ordinary write afterwards is applied as usual
    const ok = await send(
      rig,
      'PATCH',
      POD_STATUS,
      [{ op: 'add', path: '/status/phase', value: 'Running' }],
      'application/json-patch+json',
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ status: { phase: 'Running' } });
    expect(ok.body).not.toHaveProperty('polluted');
    await rig.onlineAndReplayed();
    expect(rig.sim.get('pods', 'web-1', 'default')?.status).toMatchObject({ phase: 'Running' });
  });

  it('refuses offline writes made with a bearer token (503) and never stores the token', async () => {
    const withToken = (body: unknown) =>
      httpJson(`${rig.proxy.url}${POD_STATUS}`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/merge-patch+json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
      });
    // online the token's write passes through to the API server
    const online = await withToken({ status: { message: 'online with a token' } });
    expect(online.status, online.text).toBe(200);

    await rig.offline();
    const offline = await withToken({ status: { message: 'offline with a token' } });
    expect(offline.status, offline.text).toBe(503);
    expect(offline.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect((offline.body as { message: string }).message).toMatch(/bearer token are not queued/);
    // the node's own write is still queued
    await patchPodMessage('offline as the node');
    expect(await rig.metric('islet_writes_queued')).toBe(1);
    await rig.onlineAndReplayed();
    expect(rig.sim.get('pods', 'web-1', 'default')?.status).toMatchObject({ message: 'offline as the node' });

    const files = readdirSync(rig.dir).filter((f) => f.startsWith('writes.db'));
    expect(files).toContain('writes.db');
    for (const f of files) expect(readFileSync(join(rig.dir, f)).includes(TOKEN), f).toBe(false);
  });

  it('rejects a PUT whose body is another kind, name or namespace than the URL names (400)', async () => {
    await rig.offline();
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [NODE_STATUS, { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'node-a' }, status: {} }, /kind/],
      [NODE_STATUS, { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-b' }, status: {} }, /name/],
      [NODE_STATUS, { kind: 'Node', apiVersion: 'v1', metadata: {}, status: {} }, /name/],
      [
        POD_STATUS,
        { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-1', namespace: 'other' }, status: {} },
        /namespace/,
      ],
    ];
    for (const [path, body, why] of cases) {
      const r = await send(rig, 'PUT', path, body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
      expect((r.body as { message: string }).message).toMatch(why);
    }
    expect(await rig.metric('islet_writes_queued')).toBe(0);
    // the object the URL names is accepted
    const node = (await send(rig, 'GET', '/api/v1/nodes/node-a')).body;
    const good = await send(rig, 'PUT', NODE_STATUS, { ...node, status: { phase: 'Running' } });
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    await rig.onlineAndReplayed();
  });

  it('moves a writes.db with a malformed header aside, salvages its queued writes and replays them', async () => {
    await rig.offline();
    const queued = await send(
      rig,
      'PATCH',
      NODE_STATUS,
      { status: { conditions: [{ type: 'Ready', status: 'True', message: 'queued before the damage' }] } },
      'application/strategic-merge-patch+json',
    );
    expect(queued.status, JSON.stringify(queued.body)).toBe(200);
    expect(await rig.proxy.stop()).toBe(0);
    const db = join(rig.dir, 'writes.db');
    expect(existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`).length : 0).toBe(0);
    const bytes = readFileSync(db);
    Buffer.from(
      'this is not a SQLite header at all, it is garbage written over it by a failing disk!!!!!!!!!!!!',
    ).copy(bytes, 0);
    writeFileSync(db, bytes);

    await rig.restart();
    const line = rig.proxy.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => typeof l.msg === 'string' && l.msg.startsWith('writes.db is corrupt'));
    expect(line).toMatchObject({ level: 'error', component: 'writes', salvaged: 1, lost: 0 });
    expect(String(line!.movedTo)).toMatch(/writes\.db\.corrupt-/);
    expect(readFileSync(String(line!.movedTo)).equals(bytes)).toBe(true);
    expect(await rig.metric('islet_writes_db_recovered_total')).toBe(1);
    expect(await rig.metric('islet_writes_queued')).toBe(1);

    // offline status writes work again (they answered 500 on such a file)
    await patchPodMessage('after the damage');

    await rig.onlineAndReplayed();
    expect(JSON.stringify(rig.sim.get('nodes', 'node-a')?.status)).toContain('queued before the damage');
    expect(rig.sim.get('pods', 'web-1', 'default')?.status).toMatchObject({ message: 'after the damage' });
  });
});
