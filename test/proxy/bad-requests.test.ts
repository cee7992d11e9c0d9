/**
 * Bad requests: malformed paths, bad selectors, oversized bodies and unknown resources get a 4xx
 * Kubernetes Status, online and offline, and the proxy stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../sim/index.js';
import {
  eventually,
  fastLinkArgs,
  httpJson,
  localArgs,
  type RunningProxy,
  startProxy,
  tempDir,
  upstreamArgs,
} from './harness.js';

describe('islet proxy bad requests', () => {
  let sim: Simulator;
  let proxy: RunningProxy;
  let tmp: { dir: string; cleanup: () => void };

  beforeAll(async () => {
    tmp = tempDir('islet-proxy-bad-');
    sim = await startSimulator({ tls: false });
    sim.create('pods', {
      metadata: { name: 'p', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    });
    proxy = await startProxy([
      ...upstreamArgs(sim),
      ...localArgs(tmp.dir),
      '--max-body-bytes',
      '65536',
      ...fastLinkArgs,
    ]);
  });

  afterAll(async () => {
    await proxy?.stop();
    await sim?.close();
    tmp?.cleanup();
  });

  async function expectStatus(path: string, code: number, init: RequestInit = {}): Promise<string> {
    const r = await httpJson(`${proxy.url}${path}`, init);
    expect(r.status, `${path}: ${r.text}`).toBe(code);
    expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
    return (r.body as { message: string }).message;
  }

  const cases = (when: string) => {
    it(`${when}: malformed paths and queries get 400`, async () => {
      expect(await expectStatus('/api/v1/namespaces/default/pods/%ZZ', 400)).toContain('percent-encoding');
      expect(await expectStatus('/api/v1/namespaces/default/pods/a%2Fb', 400)).toContain('may not contain');
      await expectStatus('/api/v1/namespaces/default/pods?limit=-1', 400);
      await expectStatus('/api/v1/pods?watch=1&timeoutSeconds=abc', 400);
    });

    it(`${when}: bad selectors get 400`, async () => {
      await expectStatus('/api/v1/pods?labelSelector=app%20in%20(web', 400);
      await expectStatus('/api/v1/pods?fieldSelector=spec.bogus%3Dx', 400);
      await expectStatus('/api/v1/pods?watch=1&labelSelector=%3D%3Dx', 400);
    });

    it(`${when}: bodies over --max-body-bytes get 413`, async () => {
      const big = JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'big' },
        data: { x: 'y'.repeat(70_000) },
      });
      await expectStatus('/api/v1/namespaces/default/configmaps', 413, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: big,
      });
      expect(sim.get('configmaps', 'big')).toBeUndefined();
    });
  };

  cases('online');

  it('online: an unknown resource is answered by upstream with 404', async () => {
    await expectStatus('/apis/example.com/v1/widgets', 404);
  });

  it('offline: unknown resources and uncached objects get 404, the proxy stays up', async () => {
    await sim.partition('refuse');
    await eventually(
      'link offline',
      async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
      (s) => s === 503,
    );
    await expectStatus('/apis/example.com/v1/widgets', 404);
    await expectStatus('/apis/example.com/v1/namespaces/default/widgets/w', 404);
    await expectStatus('/api/v1/namespaces/default/pods/never-seen', 404);
  });

  cases('offline');

  it('is still up and serving after all of it', async () => {
    expect(proxy.proc.exitCode).toBeNull();
    expect((await httpJson(`${proxy.adminUrl}/healthz`)).status).toBe(200);
    await sim.heal();
    await eventually(
      'link online',
      async () => (await httpJson(`${proxy.adminUrl}/readyz`)).status,
      (s) => s === 200,
    );
    const ok = await httpJson(`${proxy.url}/api/v1/namespaces/default/pods/p`);
    expect(ok.status).toBe(200);
  });
});
