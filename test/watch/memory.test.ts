/**
 * The watch path's memory bounds through the built proxy: the per-identity cap and the memory
 * budget answer 429 Status with Retry-After instead of growing, and a key whose last watcher left
 * is released (its event log and its upstream watch) after the grace period, as the admin
 * endpoint's gauges show.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../proxy/harness.js';
import { type Env, metricValue, pod, startEnv } from './e2e.js';
import { openWatch, type WatchClient } from './watch-client.js';

const gauge = async (env: Env, name: string) => metricValue(env.proxy, name, '');

async function refusal(env: Env, selector: string) {
  const q = new URLSearchParams({ watch: '1', resourceVersion: '0', labelSelector: selector });
  const res = await fetch(`${env.proxy.url}/api/v1/pods?${q}`, { headers: { accept: 'application/json' } });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

describe('watch memory bounds', () => {
  let env: Env | undefined;
  const watchers: WatchClient[] = [];

  afterEach(async () => {
    for (const w of watchers.splice(0)) w.close();
    await env?.cleanup();
    env = undefined;
  });

  async function watch(e: Env, selector: string): Promise<WatchClient> {
    const q = new URLSearchParams({ watch: '1', resourceVersion: '0', labelSelector: selector });
    const w = await openWatch(e.proxy.url, `/api/v1/pods?${q}`);
    watchers.push(w);
    return w;
  }

  it('answers 429 with Retry-After beyond the per-identity cap, and releases a key once its watchers left', async () => {
    env = await startEnv('islet-watch-mem-cap-', [
      '--max-watches-per-identity',
      '2',
      '--watch-grace',
      '200ms',
    ]);
    const e = env;
    e.sim.create('pods', pod('a'));
    e.sim.create('pods', pod('b', 'db'));
    const web = await watch(e, 'app=web');
    const db = await watch(e, 'app=db');
    expect([web.status, db.status]).toEqual([200, 200]);
    await eventually(
      'initial state',
      () => web.names('ADDED').includes('a') && db.names('ADDED').includes('b'),
    );
    await eventually('two upstream watches', () => e.sim.watchCount({ resource: 'pods' }).open === 2);

    const third = await refusal(e, 'app=other');
    expect(third.status).toBe(429);
    expect(third.retryAfter).toBe('10');
    expect(third.body).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    expect(await metricValue(e.proxy, 'islet_watch_refused_total', 'reason="identity"')).toBe(1);
    expect(await gauge(e, 'islet_watch_shared')).toBe(2);

    for (const w of watchers.splice(0)) w.close();
    await eventually(
      'keys released',
      () => gauge(e, 'islet_watch_shared'),
      (n) => n === 0,
    );
    expect(await gauge(e, 'islet_watch_log_bytes')).toBe(0);
    await eventually('upstream watches stopped', () => e.sim.watchCount({ resource: 'pods' }).open === 0);
    expect(await metricValue(e.proxy, 'islet_watch_upstream_open', 'resource="pods"')).toBe(0);

    // The cap counts open watches, not watches ever opened.
    const again = await watch(e, 'app=other');
    expect(again.status).toBe(200);
  });

  it('refuses new watches with 429 while the process is over its memory budget', async () => {
    // 16Mi is below what the proxy itself needs to run: every new watch is over the budget.
    env = await startEnv('islet-watch-mem-budget-', ['--memory-budget', '16Mi']);
    env.sim.create('pods', pod('a'));
    const r = await refusal(env, 'app=web');
    expect(r.status).toBe(429);
    expect(r.retryAfter).toBe('5');
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'TooManyRequests' });
    expect(await metricValue(env.proxy, 'islet_watch_refused_total', 'reason="memory"')).toBe(1);
    expect(await gauge(env, 'islet_watch_shared')).toBe(0);
    expect(env.sim.watchCount({ resource: 'pods' }).opened).toBe(0);
  });
});
