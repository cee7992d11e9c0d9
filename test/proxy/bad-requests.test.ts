/**
 * Bad requests: malformed paths, bad selectors, oversized bodies and unknown resources get a 4xx
 * Kubernetes Status, online and offline, and the proxy stays up.
 */
import { describe, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import { fastLinkArgs, httpJson, waitReadyz } from './harness.js';
import { expectFailureStatus, proxyOnSimulator } from './suite.js';

describe('islet proxy bad requests', () => {
  const rig = proxyOnSimulator({
    prefix: 'islet-proxy-bad-',
    simulator: { tls: false },
    seed: (sim) => void sim.create('pods', podOn('p', 'node-a', 'web', 'default')),
    args: ['--max-body-bytes', '65536', ...fastLinkArgs],
  });

  const expectStatus = (path: string, code: number, init?: RequestInit) =>
    expectFailureStatus(`${rig.proxy.url}${path}`, code, init);

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
      expect(rig.sim.get('configmaps', 'big')).toBeUndefined();
    });
  };

  cases('online');

  it('online: an unknown resource is answered by upstream with 404', async () => {
    await expectStatus('/apis/example.com/v1/widgets', 404);
  });

  it('offline: unknown resources and uncached objects get 404, the proxy stays up', async () => {
    await rig.sim.partition('refuse');
    await waitReadyz(rig.proxy, 'offline');
    await expectStatus('/apis/example.com/v1/widgets', 404);
    await expectStatus('/apis/example.com/v1/namespaces/default/widgets/w', 404);
    await expectStatus('/api/v1/namespaces/default/pods/never-seen', 404);
  });

  cases('offline');

  it('is still up and serving after all of it', async () => {
    expect(rig.proxy.proc.exitCode).toBeNull();
    expect((await httpJson(`${rig.proxy.adminUrl}/healthz`)).status).toBe(200);
    await rig.sim.heal();
    await waitReadyz(rig.proxy, 'online');
    const ok = await httpJson(`${rig.proxy.url}/api/v1/namespaces/default/pods/p`);
    expect(ok.status).toBe(200);
  });
});
