/**
 * The node's own writes through an outage, on the simulator and on the real API server (where
 * the node authorizer and NodeRestriction judge the replays): kubelet's node-status heartbeat
 * (a strategic merge patch with $setElementOrder), its pod-status patch with the uid
 * precondition, its lease renewals and its Events are answered locally while offline, reach
 * nothing upstream meanwhile, and are on the server after the link returns, checked as admin.
 */
import * as k8s from '@kubernetes/client-node';
import { beforeAll, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import { clientNodeConfig, eventually, httpJson, metric, waitLink } from '../proxy/harness.js';
import { LEASE_NS, LeaseRenewer, readyHeartbeat, STRATEGIC_MERGE_PATCH } from './node-clients.js';
import { describeOnUpstreams, proxyOnUpstream } from './suite.js';

const NS = 'work';
type Condition = { type: string; status: string; message?: string };
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
const condition = (obj: any, type: string): Condition | undefined =>
  (obj?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
const renewTime = (lease: any) => new Date(String(lease?.spec?.renewTime)).getTime();

describeOnUpstreams('node writes through an outage', (c) => {
  let kubelet: LeaseRenewer;
  let podUid: string;
  const rig = proxyOnUpstream(c, {
    prefix: 'islet-upstream-writes-',
    options: { overloadable: true },
    seed: async (up) => {
      await up.ensureNamespace(NS);
      await up.ensureNamespace(LEASE_NS); // the real server makes it itself
      const now = new Date().toISOString();
      await up.adminCreate('nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: up.nodeName, labels: { zone: 'edge' } },
        status: {
          conditions: [
            {
              type: 'MemoryPressure',
              status: 'False',
              reason: 'KubeletHasSufficientMemory',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'kubelet is posting ready status',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      });
      const pod = await up.adminCreate('pods', podOn('web-1', up.nodeName, 'web', NS));
      podUid = pod.metadata.uid;
    },
  });

  /** A request to the proxy as kubelet sends it (no credentials on loopback, JSON). */
  const send = async (method: string, path: string, body: unknown, contentType = 'application/json') => {
    const r = await httpJson(`${rig.proxy.url}${path}`, {
      method,
      headers: { 'content-type': contentType, accept: 'application/json' },
      body: JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
    return { status: r.status, body: r.body as any };
  };

  /** kubelet's node heartbeat with a Ready condition saying `message`, answered locally offline. */
  const patchNodeReady = async (message: string) => {
    const r = await send(
      'PATCH',
      `/api/v1/nodes/${rig.up.nodeName}/status`,
      { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message }] } },
      'application/strategic-merge-patch+json',
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  /** A core/v1 Event as kubelet's recorder posts it; resolves to the created name. */
  const createKubeletEvent = async (ns: string, event: Record<string, unknown>) => {
    const r = await send('POST', `/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      source: { component: 'kubelet', host: rig.up.nodeName },
      count: 1,
      ...event,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.metadata.name as string;
  };

  beforeAll(async () => {
    const kc = clientNodeConfig(rig.proxy.url);
    // kubelet registers its lease itself (NodeRestriction: only its own), then reads what it needs.
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    await leases.createNamespacedLease({
      namespace: LEASE_NS,
      body: {
        metadata: { name: rig.up.nodeName, namespace: LEASE_NS },
        spec: {
          holderIdentity: rig.up.nodeName,
          leaseDurationSeconds: 40,
          renewTime: new k8s.V1MicroTime(),
        },
      },
    });
    kubelet = new LeaseRenewer(leases, rig.up.nodeName);
    const first = await kubelet.renew();
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true });
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.readNode({ name: rig.up.nodeName });
    await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${rig.up.nodeName}` });
    await core.readNamespacedPod({ name: 'web-1', namespace: NS });
  });

  /** Heals the link and waits until the proxy replayed its whole write queue upstream. */
  const healAndReplay = async () => {
    await rig.up.heal();
    await waitLink(rig.dir, 'online');
    await queueReplayed();
  };
  const queueReplayed = () =>
    eventually(
      'queue replayed',
      () => metric(rig.proxy.adminUrl, 'islet_writes_queued'),
      (n) => n === 0,
      30_000,
    );

  it('queues node and pod status, lease renewals and events offline; after reconnect they are on the server', async () => {
    const leaseBefore = await rig.up.adminGet('leases', rig.up.nodeName, LEASE_NS);
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');

    // kubelet's heartbeat: strategic merge with $setElementOrder, as tryUpdateNodeStatus sends it.
    const nodePatch = await send(
      'PATCH',
      `/api/v1/nodes/${rig.up.nodeName}/status`,
      readyHeartbeat('offline heartbeat'),
      STRATEGIC_MERGE_PATCH,
    );
    expect(nodePatch.status, JSON.stringify(nodePatch.body)).toBe(200);
    expect(nodePatch.body.metadata.resourceVersion).toMatch(/^\d+-islet-\d+$/);
    expect(condition(nodePatch.body, 'Ready')).toMatchObject({ message: 'offline heartbeat' });
    expect(condition(nodePatch.body, 'MemoryPressure')).toMatchObject({ status: 'False' });

    // kubelet's pod status patch carries the pod's uid as a precondition.
    const podPatch = await send(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/web-1/status`,
      {
        metadata: { uid: podUid },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      },
      'application/strategic-merge-patch+json',
    );
    expect(podPatch.status, JSON.stringify(podPatch.body)).toBe(200);
    expect(podPatch.body.status.phase).toBe('Running');

    // Lease renewals answered locally, each with a local resourceVersion.
    for (let i = 0; i < 3; i++) {
      const r = await kubelet.renew();
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
      expect(r.rv).toMatch(/^\d+-islet-\d+$/);
    }

    // kubelet's default wire format is protobuf: the same renewal so encoded is answered in JSON.
    const pb = await kubelet.renewInProtobuf(rig.proxy.url, new k8s.V1MicroTime().toISOString());
    expect(pb.status).toBe(200);
    kubelet.latest = (await pb.json()) as k8s.V1Lease;
    expect((await kubelet.renew()).ok).toBe(true);

    // Events, as kubelet's recorder posts them: a repeat folds into the first with a count.
    const event = (name: string) => {
      const now = new Date().toISOString();
      return {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: NS },
        involvedObject: { kind: 'Pod', namespace: NS, name: 'web-1', apiVersion: 'v1', uid: podUid },
        reason: 'BackOff',
        message: 'restarting c while offline',
        type: 'Warning',
        source: { component: 'kubelet', host: rig.up.nodeName },
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
      };
    };
    const ev = await send('POST', `/api/v1/namespaces/${NS}/events`, event('web-1.offline'));
    expect(ev.status, JSON.stringify(ev.body)).toBe(201);
    const again = await send('POST', `/api/v1/namespaces/${NS}/events`, event('web-1.offline-2'));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ metadata: { name: 'web-1.offline' }, count: 2 });
    // events.k8s.io/v1 (newer components): a repeat is counted in series, whose
    // lastObservedTime the proxy writes itself: a MicroTime the real server must accept.
    const newStyle = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { generateName: 'web-1.', namespace: NS },
      eventTime: new k8s.V1MicroTime().toISOString(),
      regarding: { kind: 'Pod', namespace: NS, name: 'web-1', uid: podUid },
      reason: 'Unhealthy',
      note: 'probe failed offline',
      type: 'Warning',
      action: 'Probe',
      reportingController: 'kubelet',
      reportingInstance: rig.up.nodeName,
    };
    const ne1 = await send('POST', `/apis/events.k8s.io/v1/namespaces/${NS}/events`, newStyle);
    const ne2 = await send('POST', `/apis/events.k8s.io/v1/namespaces/${NS}/events`, newStyle);
    expect([ne1.status, ne2.status], JSON.stringify(ne2.body)).toEqual([201, 201]);
    const newStyleName = ne1.body.metadata.name as string;
    expect(ne2.body.metadata.name).toBe(newStyleName);
    expect(ne2.body.series).toMatchObject({ count: 2 });
    expect(await metric(rig.proxy.adminUrl, 'islet_writes_queued')).toBeGreaterThanOrEqual(3);

    // Nothing of it reached the server.
    expect(condition(await rig.up.adminGet('nodes', rig.up.nodeName), 'Ready')?.message).toBe(
      'kubelet is posting ready status',
    );
    expect((await rig.up.adminGet('pods', 'web-1', NS)).status.phase).toBe('Pending');
    expect(await rig.up.adminGet('events', 'web-1.offline', NS)).toBeUndefined();
    expect(renewTime(await rig.up.adminGet('leases', rig.up.nodeName, LEASE_NS))).toBe(
      renewTime(leaseBefore),
    );

    // Meanwhile upstream: the node lifecycle controller marks the node Unknown, someone labels
    // the node and the lease. The replays meet newer objects and must re-apply onto them.
    await rig.up.adminPatch(
      'nodes',
      rig.up.nodeName,
      {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'Unknown',
              reason: 'NodeStatusUnknown',
              message: 'Kubelet stopped posting node status.',
            },
          ],
        },
      },
      { type: 'strategic', subresource: 'status' },
    );
    await rig.up.adminPatch('nodes', rig.up.nodeName, { metadata: { labels: { drained: 'no' } } });
    await rig.up.adminPatch(
      'leases',
      rig.up.nodeName,
      { metadata: { labels: { touched: 'upstream' } } },
      { namespace: LEASE_NS },
    );

    await healAndReplay();
    // The live kubelet's next renewal reaches the server although it carries a local version.
    const after = await kubelet.renew();
    expect(after, JSON.stringify(after)).toMatchObject({ ok: true });
    expect(after.rv).toMatch(/^\d+$/);

    const node = await rig.up.adminGet('nodes', rig.up.nodeName);
    expect(condition(node, 'Ready')).toMatchObject({ status: 'True', message: 'offline heartbeat' });
    expect(condition(node, 'MemoryPressure')).toMatchObject({ status: 'False' });
    expect(node.metadata.labels).toMatchObject({ zone: 'edge', drained: 'no' });
    const pod = await rig.up.adminGet('pods', 'web-1', NS);
    expect(pod.status.phase).toBe('Running');
    expect(condition(pod, 'Ready')).toMatchObject({ status: 'True' });
    expect(await rig.up.adminGet('events', 'web-1.offline', NS)).toMatchObject({
      reason: 'BackOff',
      message: 'restarting c while offline',
      count: 2,
    });
    expect(await rig.up.adminGet('events', 'web-1.offline-2', NS)).toBeUndefined();
    const replayedNew = await rig.up.adminRequest(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${NS}/events/${newStyleName}`,
    );
    expect(replayedNew.status, replayedNew.body.toString()).toBe(200);
    expect(replayedNew.json).toMatchObject({ note: 'probe failed offline', series: { count: 2 } });
    const lease = await rig.up.adminGet('leases', rig.up.nodeName, LEASE_NS);
    expect(lease.spec.holderIdentity).toBe(rig.up.nodeName);
    expect(lease.metadata.labels).toEqual({ touched: 'upstream' });
    expect(renewTime(lease)).toBe(renewTime(kubelet.latest));
    expect(renewTime(lease)).toBeGreaterThan(renewTime(leaseBefore));
  });

  it('drops (and counts) a queued pod status whose pod was replaced upstream meanwhile', async () => {
    await rig.up.adminCreate('pods', podOn('job-1', rig.up.nodeName, 'job', NS));
    const cached = await send('GET', `/api/v1/namespaces/${NS}/pods/job-1`, undefined);
    expect(cached.status).toBe(200);
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    const patched = await send(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/job-1/status`,
      { metadata: { uid: cached.body.metadata.uid }, status: { phase: 'Succeeded' } },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // Upstream the pod is deleted and a new one made under the same name.
    await rig.up.adminDelete('pods', 'job-1', NS);
    const replacement = await rig.up.adminCreate('pods', podOn('job-1', rig.up.nodeName, 'job', NS));
    const conflict = 'islet_writes_replayed_total{outcome="conflict"}';
    const conflicts = (await metric(rig.proxy.adminUrl, conflict)) || 0;
    await healAndReplay();
    await eventually(
      'conflict counted',
      () => metric(rig.proxy.adminUrl, conflict),
      (n) => n === conflicts + 1,
    );
    const upstream = await rig.up.adminGet('pods', 'job-1', NS);
    expect(upstream.metadata.uid).toBe(replacement.metadata.uid);
    expect(upstream.status.phase).toBe('Pending');
  });

  it('kill -9 with a non-empty queue: the restarted proxy serves the queued state offline and replays it', async () => {
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    await patchNodeReady('queued before kill');
    const eventName = await createKubeletEvent('default', {
      metadata: { generateName: `${rig.up.nodeName}.`, namespace: 'default' },
      involvedObject: { kind: 'Node', name: rig.up.nodeName, apiVersion: 'v1' },
      reason: 'Rebooted',
      message: 'node rebooted',
      type: 'Warning',
    });

    await rig.proxy.kill();
    await rig.restartProxy();
    const node = await send('GET', `/api/v1/nodes/${rig.up.nodeName}`, undefined);
    expect(node.status).toBe(200);
    expect(condition(node.body, 'Ready')?.message).toBe('queued before kill');
    expect(await metric(rig.proxy.adminUrl, 'islet_writes_queued')).toBe(2);
    expect(await rig.up.adminGet('events', eventName)).toBeUndefined();

    await healAndReplay();
    expect(condition(await rig.up.adminGet('nodes', rig.up.nodeName), 'Ready')?.message).toBe(
      'queued before kill',
    );
    expect(await rig.up.adminGet('events', eventName)).toMatchObject({ reason: 'Rebooted', count: 1 });
  });

  it('replays that meet a 429 wait and retry: nothing queued is lost to an overloaded server', async () => {
    await rig.up.partition('refuse');
    await waitLink(rig.dir, 'offline');
    await patchNodeReady('queued through 429');
    await createKubeletEvent(NS, {
      metadata: { name: 'web-1.through-429', namespace: NS },
      involvedObject: { kind: 'Pod', namespace: NS, name: 'web-1', apiVersion: 'v1', uid: podUid },
      reason: 'Started',
      message: 'queued through 429',
      type: 'Normal',
    });
    const replayed =
      (await metric(rig.proxy.adminUrl, 'islet_writes_replayed_total{outcome="replayed"}')) || 0;

    const overload = await rig.up.overloadNode();
    try {
      await rig.up.heal();
      await waitLink(rig.dir, 'online');
      await eventually(
        'a replay refused',
        () => overload.rejected(),
        (n) => n >= 1,
        30_000,
      );
      expect(await metric(rig.proxy.adminUrl, 'islet_writes_queued')).toBe(2);
      expect(await rig.up.adminGet('events', 'web-1.through-429', NS)).toBeUndefined();
    } finally {
      await overload.release();
    }
    await queueReplayed();
    expect(await metric(rig.proxy.adminUrl, 'islet_writes_replayed_total{outcome="replayed"}')).toBe(
      replayed + 2,
    );
    expect(condition(await rig.up.adminGet('nodes', rig.up.nodeName), 'Ready')?.message).toBe(
      'queued through 429',
    );
    expect(await rig.up.adminGet('events', 'web-1.through-429', NS)).toMatchObject({
      message: 'queued through 429',
    });
  });
});
