/**
 * A damaged cache.db never stops the proxy: it is set aside at start (kept for diagnosis), the
 * proxy serves online at once, and offline reads work again after an online refill.
 */
import { closeSync, openSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../sim/index.js';
import {
  eventually,
  fastLinkArgs,
  httpJson,
  localArgs,
  metric,
  type RunningProxy,
  startProxy,
  tempDir,
  upstreamArgs,
} from './harness.js';

describe('islet proxy with a damaged cache.db', () => {
  let sim: Simulator;
  let proxy: RunningProxy | undefined;
  let tmp: { dir: string; cleanup: () => void };
  const podCount = 400;

  beforeAll(async () => {
    tmp = tempDir('islet-proxy-corrupt-');
    sim = await startSimulator({ tls: false });
    for (let i = 0; i < podCount; i++) {
      sim.create('pods', {
        metadata: { name: `c-${i}`, namespace: 'default', annotations: { note: 'n'.repeat(2000) } },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      });
    }
  });

  afterAll(async () => {
    await proxy?.kill();
    await sim?.close();
    tmp?.cleanup();
  });

  const cachePath = () => join(tmp.dir, 'cache.db');
  const setAside = () =>
    readdirSync(tmp.dir).filter((f) => f.startsWith('cache.db.corrupt-') && !/-(wal|shm)$/.test(f));
  const start = () => startProxy([...upstreamArgs(sim), ...localArgs(tmp.dir), ...fastLinkArgs]);
  const listPods = async () => httpJson(`${proxy!.url}/api/v1/namespaces/default/pods`);
  async function link(state: 'online' | 'offline'): Promise<void> {
    await eventually(
      `link ${state}`,
      async () => (await httpJson(`${proxy!.adminUrl}/readyz`)).status,
      (s) => s === (state === 'online' ? 200 : 503),
    );
  }

  it('starts with a garbage header, serves online and sets the bad file aside', async () => {
    writeFileSync(cachePath(), Buffer.alloc(256 * 1024, 0x5a));
    proxy = await start();
    const r = await listPods();
    expect(r.status).toBe(200);
    expect((r.body as { items: unknown[] }).items).toHaveLength(podCount);
    const kept = setAside();
    expect(kept).toHaveLength(1);
    expect(statSync(join(tmp.dir, kept[0]!)).size).toBe(256 * 1024);
    const logged = proxy.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.phase === 'open');
    expect(logged).toMatchObject({ level: 'error', movedTo: join(tmp.dir, kept[0]!), path: cachePath() });
    expect(await metric(proxy.adminUrl, 'islet_cache_corrupt_total')).toBe(1);
    await proxy.stop();
    proxy = undefined;
  });

  it('starts with garbage in the middle of the file and answers offline LIST after an online refill', async () => {
    // A sound cache first, holding the pods.
    proxy = await start();
    expect((await listPods()).status).toBe(200);
    await eventually(
      'pods cached',
      () => metric(proxy!.adminUrl, 'islet_cache_objects'),
      (n) => n === podCount,
    );
    await proxy.stop();
    // A clean stop checkpoints the WAL into the file: damage its middle third.
    const pages = Math.floor(statSync(cachePath()).size / 4096);
    expect(pages).toBeGreaterThan(30);
    const fd = openSync(cachePath(), 'r+');
    const junk = Buffer.alloc(4096, 0xa5);
    for (let p = Math.floor(pages / 3); p < Math.floor((2 * pages) / 3); p++)
      writeSync(fd, junk, 0, 4096, p * 4096);
    closeSync(fd);

    proxy = await start();
    expect(setAside()).toHaveLength(2);
    expect(await metric(proxy.adminUrl, 'islet_cache_corrupt_total')).toBe(1);
    const online = await listPods();
    expect(online.status).toBe(200);
    await eventually(
      'pods refilled',
      () => metric(proxy!.adminUrl, 'islet_cache_objects'),
      (n) => n === podCount,
    );

    await sim.partition('refuse');
    await link('offline');
    const offline = await listPods();
    expect(offline.status, offline.text.slice(0, 300)).toBe(200);
    expect((offline.body as { items: unknown[] }).items).toHaveLength(podCount);
    const watch = await fetch(`${proxy.url}/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1`);
    expect(watch.status).toBe(200);
    await watch.body?.cancel();
    await sim.heal();
    await link('online');
  });
});
