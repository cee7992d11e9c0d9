/**
 * Kubelet's node lease offline. A kubelet-like client (client-node, renewing
 * its lease the way kubelet's lease controller does: update of the last object it got back) keeps
 * renewing through an outage and is answered locally; after the link returns its next renewal
 * reaches the API server although it carries a local resourceVersion. When it stops renewing,
 * the proxy stops answering for the node and the upstream lease is not renewed on reconnect.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseRenewer } from '../upstream/node-clients.js';
import { send, sleep, startRig, type WritesRig } from './setup.js';

const NS = 'kube-node-lease';
const LEASE_DURATION = 2; // seconds: liveness window 2 × 2 s

function lease(node: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: node, namespace: NS },
    spec: { holderIdentity: node, leaseDurationSeconds: LEASE_DURATION, renewTime: new Date().toISOString() },
  };
}

const renewTimeOf = (obj: unknown) =>
  new Date(String((obj as { spec?: { renewTime?: unknown } } | undefined)?.spec?.renewTime)).getTime();

describe('node lease renewals offline', () => {
  let rig: WritesRig;
  let api: k8s.CoordinationV1Api;

  beforeAll(async () => {
    rig = await startRig();
    rig.sim.create('nodes', { metadata: { name: 'node-a' } });
    rig.sim.create('nodes', { metadata: { name: 'node-b' } });
    rig.sim.create('leases.coordination.k8s.io', lease('node-a'));
    rig.sim.create('leases.coordination.k8s.io', lease('node-b'));
    api = rig.kubeConfig().makeApiClient(k8s.CoordinationV1Api);
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  it('a live kubelet renews locally while offline and upstream again after reconnect', async () => {
    const kubelet = new LeaseRenewer(api, 'node-a');
    for (let i = 0; i < 3; i++) expect((await kubelet.renew()).ok).toBe(true);
    const upstreamBefore = renewTimeOf(rig.sim.get('leases.coordination.k8s.io', 'node-a', NS));
    expect(upstreamBefore).toBe(renewTimeOf(kubelet.latest));

    await rig.offline();
    const offline: string[] = [];
    for (let i = 0; i < 4; i++) {
      // kubelet renews on a period (10 s by default); renewals spaced as time passes, not back to back.
      await sleep(300);
      const r = await kubelet.renew();
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
      offline.push(r.rv!);
    }
    // kubelet's default wire format is protobuf: the same renewal encoded so is answered in JSON
    const pb = await kubelet.renewInProtobuf(rig.proxy.url, new Date().toISOString());
    expect(pb.status).toBe(200);
    expect(pb.headers.get('content-type')).toContain('application/json');
    const pbLease = (await pb.json()) as k8s.V1Lease;
    expect(pbLease.spec?.holderIdentity).toBe('node-a');
    offline.push(pbLease.metadata!.resourceVersion!);
    kubelet.latest = pbLease;
    expect((await kubelet.renew()).ok).toBe(true);
    offline.push(kubelet.latest.metadata!.resourceVersion!);

    // local versions: told apart from the API server's, increasing, each accepted as the next precondition
    expect(offline.every((rv) => /^\d+-islet-\d+$/.test(rv))).toBe(true);
    expect(new Set(offline).size).toBe(offline.length);
    // local readers see the newest renewal; the API server has not seen any of them
    const local = await send(rig, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/node-a`);
    expect(local.status).toBe(200);
    expect(local.body.metadata?.resourceVersion).toBe(offline.at(-1));
    expect(renewTimeOf(local.body as never)).toBe(renewTimeOf(kubelet.latest));
    expect(renewTimeOf(rig.sim.get('leases.coordination.k8s.io', 'node-a', NS))).toBe(upstreamBefore);
    expect(await rig.metric('islet_lease_local_renewals_total')).toBeGreaterThanOrEqual(4);

    // meanwhile someone else changes the lease upstream: the first renewal after reconnect conflicts
    rig.sim.patch(
      'leases.coordination.k8s.io',
      'node-a',
      { metadata: { labels: { touched: 'upstream' } } },
      {
        namespace: NS,
        type: 'merge',
      },
    );
    rig.sim.resetCounters();
    await rig.online();
    // the next renewal carries the local resourceVersion and must still reach the API server
    const after = await kubelet.renew();
    expect(after, JSON.stringify(after)).toMatchObject({ ok: true });
    expect(after.rv).toMatch(/^\d+$/);
    const upstream = rig.sim.get('leases.coordination.k8s.io', 'node-a', NS);
    expect(renewTimeOf(upstream)).toBe(renewTimeOf(kubelet.latest));
    expect(upstream!.metadata.resourceVersion).toBe(after.rv);
    expect((upstream!.spec as { holderIdentity?: string }).holderIdentity).toBe('node-a');
    expect(upstream!.metadata.labels).toEqual({ touched: 'upstream' });
    // the proxy took the 409 itself (refetch + reapply); the client saw one successful update
    const leaseUpdates = rig.sim.requests.filter((r) => r.resource === 'leases' && r.verb === 'update');
    expect(leaseUpdates.map((r) => r.status)).toEqual([409, 200]);
    // and the one after that is a plain pass-through
    expect((await kubelet.renew()).ok).toBe(true);
    expect(rig.sim.get('leases.coordination.k8s.io', 'node-a', NS)!.metadata.resourceVersion).toBe(
      kubelet.latest!.metadata!.resourceVersion,
    );
  });

  it('a kubelet that stops renewing is not answered for, and its lease is not renewed on reconnect', async () => {
    const kubelet = new LeaseRenewer(api, 'node-b');
    expect((await kubelet.renew()).ok).toBe(true);
    await rig.offline();
    expect((await kubelet.renew()).ok).toBe(true);
    const upstreamBefore = rig.sim.get('leases.coordination.k8s.io', 'node-b', NS)!;

    // kubelet hangs for longer than 2 × leaseDurationSeconds: the time passing is the behaviour.
    await sleep(2 * LEASE_DURATION * 1000 + 1500);
    const late = await kubelet.renew();
    expect(late.ok).toBe(false);
    expect(late.code).toBe(503);
    expect(late.message).toMatch(
      /^node is offline \(link to the API server is down\): update leases\.coordination\.k8s\.io is not accepted locally: kubelet has not renewed lease kube-node-lease\/node-b for \d+s/,
    );
    const patch = await send(
      rig,
      'PATCH',
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/node-b`,
      { spec: { renewTime: new Date().toISOString() } },
      'application/merge-patch+json',
    );
    expect(patch.status).toBe(503);

    rig.sim.resetCounters();
    await rig.onlineAndReplayed();
    // What is checked is that nothing happens: no event marks a renewal that should not come, so
    // the queue drained and one more second online (five probe rounds) give a replay every chance
    // to (wrongly) renew the lease.
    await sleep(1000);
    expect(rig.sim.requestCount({ resource: 'leases', verb: 'update' })).toBe(0);
    expect(rig.sim.requestCount({ resource: 'leases', verb: 'patch' })).toBe(0);
    const upstreamAfter = rig.sim.get('leases.coordination.k8s.io', 'node-b', NS)!;
    expect(upstreamAfter.metadata.resourceVersion).toBe(upstreamBefore.metadata.resourceVersion);
    expect(renewTimeOf(upstreamAfter)).toBe(renewTimeOf(upstreamBefore));
  });
});
