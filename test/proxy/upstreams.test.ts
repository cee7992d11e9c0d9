/**
 * Upstream handling: two upstreams with failover and return to the preferred one, a flapping link
 * judged with hysteresis, and client-certificate rotation picked up by new upstream connections.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../sim/index.js';
import {
  clientNodeConfig,
  eventually,
  httpJson,
  httpsGet,
  Kubectl,
  linkFile,
  localArgs,
  metric,
  podInformer,
  readyz,
  startProxy,
  tempDir,
  upstreamArgs,
  waitReadyz,
} from './harness.js';
import { createPki, httpsListenerArgs } from './pki.js';

type Named = { metadata: { name: string } };
const names = (items: Named[]) => items.map((i) => i.metadata.name).sort();

function seed(sim: Simulator, n: number): void {
  for (let i = 0; i < n; i++) {
    sim.create('pods', {
      metadata: { name: `pod-${i}`, namespace: 'default', labels: { app: 'x' } },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    });
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function common(dir: string): string[] {
  return [...localArgs(dir), '--request-timeout', '3s'];
}

describe('islet proxy upstream handling', () => {
  it('two upstreams: kill the preferred one and requests continue via the other; it gets the traffic back', async () => {
    const tmp = tempDir('islet-proxy-two-');
    cleanups.push(tmp.cleanup);
    const a = await startSimulator({ tls: false });
    const b = await startSimulator({ tls: false });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    seed(a, 3);
    seed(b, 3);
    const proxy = await startProxy([
      '--server',
      a.url,
      '--server',
      b.url,
      '--lb',
      'priority',
      '--probe-interval',
      '150ms',
      '--probe-timeout',
      '500ms',
      '--offline-after',
      '2',
      '--online-after',
      '2',
      ...common(tmp.dir),
    ]);
    cleanups.push(async () => void (await proxy.stop()));
    const kubectl = new Kubectl(tmp.dir, proxy.url);
    const podsVia = (sim: Simulator) => sim.requestCount({ verb: 'list', resource: 'pods' });

    expect(names((await kubectl.json<{ items: Named[] }>(['get', 'pods'])).items)).toHaveLength(3);
    expect(podsVia(a)).toBe(1);
    expect(podsVia(b)).toBe(0);

    await a.stop();
    // No pause: the very next requests must succeed through b, without a client error.
    for (let i = 0; i < 5; i++) {
      const r = await kubectl.run(['get', 'pods', '-o', 'name']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(3);
    }
    expect(podsVia(b)).toBe(5);
    expect((await httpJson(`${proxy.adminUrl}/readyz`)).status).toBe(200);

    await a.start();
    await eventually('a healthy again', async () => {
      const ready = (await httpJson(`${proxy.adminUrl}/readyz`)).body as {
        upstreams: { url: string; healthy: boolean }[];
      };
      return ready.upstreams[0]!.healthy;
    });
    const before = { a: podsVia(a), b: podsVia(b) };
    for (let i = 0; i < 3; i++) expect((await kubectl.run(['get', 'pods', '-o', 'name'])).code).toBe(0);
    expect(podsVia(a) - before.a).toBe(3);
    expect(podsVia(b) - before.b).toBe(0);
  });

  it('a flapping link changes state with hysteresis, the proxy survives, clients recover', async () => {
    // The hysteresis (proxy/upstream/breaker.ts): the link goes offline after OFFLINE_AFTER
    // consecutive failures of probes (one per interval) and requests; any success starts the
    // count again. Each short outage below lasts until a probe failed on it (so the proxy did see
    // it) and is healed as soon as the test sees that, then a probe passes: it costs a failed probe
    // or two, perhaps a failed watch reconnect, far from ten in a row (two seconds of probes).
    const OFFLINE_AFTER = 10;
    const FLAPS = 10;
    const tmp = tempDir('islet-proxy-flap-');
    cleanups.push(tmp.cleanup);
    const sim = await startSimulator({ tls: false });
    cleanups.push(() => sim.close());
    seed(sim, 4);
    const proxy = await startProxy([
      ...upstreamArgs(sim),
      '--probe-interval',
      '200ms',
      '--probe-timeout',
      '1s',
      '--offline-after',
      String(OFFLINE_AFTER),
      '--online-after',
      '4',
      ...common(tmp.dir),
    ]);
    cleanups.push(async () => void (await proxy.stop()));
    const pods = podInformer(clientNodeConfig(proxy.url), 200);
    const { informer } = pods;
    cleanups.push(() => pods.stop());
    await informer.start();
    await eventually(
      'informer synced',
      () => informer.list().length,
      (n) => n === 4,
    );

    const upstream = async () => (await readyz(proxy)).upstreams[0]!;
    const transitions = () => metric(proxy.adminUrl, 'islet_link_transitions');
    const linkSince = () => JSON.parse(readFileSync(linkFile(tmp.dir), 'utf8')).since as string;
    const onlineSince = linkSince();
    const failedBefore = (await upstream()).probeFailures;
    for (let i = 0; i < FLAPS; i++) {
      const failed = (await upstream()).probeFailures;
      await sim.partition('refuse');
      await eventually('a probe failed on the cut link', upstream, (u) => u.probeFailures > failed);
      await sim.heal();
      // Probes go one after the other: once two more were sent, the first of them, sent after the
      // heal, has been answered.
      const sent = (await upstream()).probes;
      await eventually('a probe answered on the healed link', upstream, (u) => u.probes >= sent + 2);
    }
    // The proxy saw every outage, and not one took the link offline.
    expect((await upstream()).probeFailures - failedBefore).toBeGreaterThanOrEqual(FLAPS);
    expect(await transitions()).toBe(0);
    expect(linkSince()).toBe(onlineSince);
    expect((await readyz(proxy)).status).toBe(200);
    expect(proxy.proc.exitCode).toBeNull();

    // One long outage: exactly one transition down, and one back up after healing.
    await sim.partition('refuse');
    await waitReadyz(proxy, 'offline');
    expect(await transitions()).toBe(1);
    await sim.heal();
    await waitReadyz(proxy, 'online');
    expect(await transitions()).toBe(2);

    // Clients recover: a change made upstream now reaches the informer; kubectl works.
    sim.create('pods', {
      metadata: { name: 'after-flaps', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    });
    await eventually(
      'informer recovered',
      () => informer.list().map((p) => p.metadata!.name),
      (n) => n.includes('after-flaps'),
    );
    const kubectl = new Kubectl(tmp.dir, proxy.url);
    expect(names((await kubectl.json<{ items: Named[] }>(['get', 'pods'])).items)).toHaveLength(5);
  });

  it('started with no answer upstream: offline at once, online at the first answer, informers sync', async () => {
    // Before the link was ever online, failures are no link seen going down (a first probe slower
    // than its timeout on a loaded node looks the same): the first answer decides, and probes
    // follow each other quickly until then. With one probe an hour and three answers needed, the
    // old rule kept the proxy offline, every LIST a 503 from the empty cache, for hours.
    const tmp = tempDir('islet-proxy-first-answer-');
    cleanups.push(tmp.cleanup);
    const sim = await startSimulator({ tls: false });
    cleanups.push(() => sim.close());
    seed(sim, 3);
    await sim.partition('refuse');
    const proxy = await startProxy([
      ...upstreamArgs(sim),
      ...['--probe-interval', '1h', '--probe-timeout', '1s'],
      ...['--offline-after', '3', '--online-after', '3'],
      ...common(tmp.dir),
    ]);
    cleanups.push(async () => void (await proxy.stop()));
    // The offline reboot is still decided by the first probe round, before anything is served.
    const listening = JSON.parse(proxy.logs.find((l) => l.includes('"msg":"listening"'))!);
    expect(listening.link).toBe('offline');
    expect((await readyz(proxy)).status).toBe(503);

    const pods = podInformer(clientNodeConfig(proxy.url), 200);
    cleanups.push(() => pods.stop());
    await pods.informer.start();
    await eventually('the informer was refused from the empty cache', () => pods.errors.length > 0);
    await sim.heal();
    await waitReadyz(proxy, 'online');
    await eventually('informer synced', pods.names, (n) => n.length === 3);
    expect(await metric(proxy.adminUrl, 'islet_link_transitions')).toBe(1);
  });

  it('client certificate rotation: new upstream connections use the new certificate', async () => {
    const tmp = tempDir('islet-proxy-rotate-');
    cleanups.push(tmp.cleanup);
    const sim = await startSimulator();
    cleanups.push(() => sim.close());
    seed(sim, 1);
    const first = await sim.mintClientCert('node-a');
    const second = await sim.mintClientCert('node-a');
    // kubeadm's layout: one file with both, swapped atomically by kubelet.
    const current = join(tmp.dir, 'kubelet-client-current.pem');
    writeFileSync(current, first.certPem + first.keyPem);
    const proxy = await startProxy([
      ...upstreamArgs(sim, { certPath: current, keyPath: current }),
      '--probe-interval',
      '1s',
      ...common(tmp.dir),
    ]);
    cleanups.push(async () => void (await proxy.stop()));
    const lastSerial = () => {
      const rec = [...sim.requests].reverse().find((r) => r.resource === 'pods');
      return rec?.identity?.certSerial;
    };
    expect((await httpJson(`${proxy.url}/api/v1/namespaces/default/pods`)).status).toBe(200);
    expect(lastSerial()).toBe(first.serial);
    expect(sim.requests.at(-1)?.identity?.user).toBe('system:node:node-a');

    writeFileSync(join(tmp.dir, 'next.pem'), second.certPem + second.keyPem);
    renameSync(join(tmp.dir, 'next.pem'), current);
    // The old certificate no longer works upstream: only a reload can make the next request pass.
    sim.revokeClientCert(first);
    await eventually(
      'requests use the rotated certificate',
      async () => {
        const r = await httpJson(`${proxy.url}/api/v1/namespaces/default/pods`);
        return r.status === 200 ? lastSerial() : undefined;
      },
      (serial) => serial === second.serial,
      10_000,
    );
    expect(proxy.logs.some((l) => l.includes('client certificate reloaded'))).toBe(true);
  });

  it('the HTTPS listener forwards bearer tokens upstream without the node certificate', async () => {
    const tmp = tempDir('islet-proxy-token-');
    cleanups.push(tmp.cleanup);
    const sim = await startSimulator({ tokens: { 'tok-alice': 'alice' } });
    cleanups.push(() => sim.close());
    seed(sim, 1);
    const cert = await sim.mintClientCert('node-a');
    const serving = createPki(tmp.dir);
    const proxy = await startProxy([
      ...upstreamArgs(sim, cert),
      ...httpsListenerArgs(serving),
      ...common(tmp.dir),
    ]);
    cleanups.push(async () => void (await proxy.stop()));
    const get = async (headers: Record<string, string>) =>
      (await httpsGet(`${proxy.httpsUrl}/api/v1/namespaces/default/pods/pod-0`, serving.caCert, headers))
        .status;
    expect(await get({ authorization: 'Bearer tok-alice' })).toBe(200);
    expect(sim.requests.at(-1)?.identity).toMatchObject({ user: 'alice', via: 'token' });
    expect(sim.requests.at(-1)?.identity?.certSerial).toBeUndefined();
    expect(await get({ authorization: 'Bearer not-a-token' })).toBe(401);
    // No credentials on the HTTPS listener is 401, never the node's certificate (test/proxy/listeners.test.ts).
    const seen = sim.requests.length;
    expect(await get({})).toBe(401);
    expect(sim.requests.length).toBe(seen);
  });
});
