/**
 * Write-queue durability: kill -9 of the proxy with a non-empty write queue loses nothing.
 * The queued node status and event survive the crash, are served again by the restarted proxy
 * while still offline, and reach the API server once the link is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, startRig, type WritesRig } from './setup.js';

describe('kill -9 with a non-empty write queue', () => {
  let rig: WritesRig;

  beforeAll(async () => {
    rig = await startRig();
    rig.sim.create('nodes', {
      metadata: { name: 'node-a' },
      status: { conditions: [{ type: 'Ready', status: 'True', message: 'before' }] },
    });
    expect((await send(rig, 'GET', '/api/v1/nodes/node-a')).status).toBe(200);
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  it('replays what was queued before the crash after a restart and reconnect', async () => {
    await rig.offline();
    const patched = await send(
      rig,
      'PATCH',
      '/api/v1/nodes/node-a/status',
      { status: { conditions: [{ type: 'Ready', status: 'True', message: 'queued before kill' }] } },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status).toBe(200);
    const created = await send(rig, 'POST', '/api/v1/namespaces/default/events', {
      metadata: { generateName: 'node-a.' },
      involvedObject: { kind: 'Node', name: 'node-a' },
      reason: 'Rebooted',
      message: 'node rebooted',
      count: 1,
    });
    expect(created.status).toBe(201);
    const eventName = (created.body.metadata as { name: string }).name;
    expect(eventName).toMatch(/^node-a\./);

    await rig.proxy.kill();
    expect(rig.proxy.proc.signalCode).toBe('SIGKILL');

    // restarted while the link is still down: it comes up offline and still serves the queued state
    await rig.restart();
    const node = await send(rig, 'GET', '/api/v1/nodes/node-a');
    expect(node.status).toBe(200);
    expect(JSON.stringify(node.body)).toContain('queued before kill');
    expect(await rig.metric('islet_writes_queued')).toBe(2);
    expect(rig.sim.get('events', eventName, 'default')).toBeUndefined();

    await rig.onlineAndReplayed();
    const upstream = rig.sim.get('nodes', 'node-a')!;
    expect(JSON.stringify(upstream.status)).toContain('queued before kill');
    const ev = rig.sim.get('events', eventName, 'default') as unknown as { reason: string; count: number };
    expect(ev).toMatchObject({ reason: 'Rebooted', count: 1 });
    expect(await rig.metric('islet_writes_replayed_total', '{outcome="replayed"}')).toBe(2);
  });
});
