/**
 * Offline node-status and pod-status patches (as kubelet sends them) and
 * Events are queued durably, answered truthfully, readable locally through the proxy, and
 * replayed after the link returns — with a conflicting upstream change handled by refetch and
 * reapply. Every other write is refused with a 503 Status and never reaches the API server.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, Kubectl } from '../proxy/harness.js';
import type { SimObject } from '../sim/index.js';
import { readyHeartbeat, STRATEGIC_MERGE_PATCH } from '../upstream/node-clients.js';
import { encodeEvent } from './k8s-protobuf.js';
import { openWatch, send, startRig, type WritesRig } from './setup.js';

type Condition = { type: string; status: string; reason?: string; message?: string };
const conditions = (obj: unknown) =>
  (obj as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
const condition = (obj: unknown, type: string) => conditions(obj).find((c) => c.type === type);

const OFFLINE = 'node is offline (link to the API server is down)';

function event(name: string, reason: string, message: string): k8s.CoreV1Event {
  const now = new Date();
  return {
    metadata: { name, namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', apiVersion: 'v1' },
    reason,
    message,
    type: 'Warning',
    source: { component: 'kubelet', host: 'node-a' },
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
  };
}

describe('offline status writes and events', () => {
  let rig: WritesRig;
  let kubectl: Kubectl;
  let core: k8s.CoreV1Api;
  let podUid: string;

  beforeAll(async () => {
    rig = await startRig();
    rig.sim.create('nodes', {
      metadata: { name: 'node-a', labels: { zone: 'edge' } },
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
          },
        ],
        addresses: [{ type: 'InternalIP', address: '10.0.0.10' }],
      },
    });
    const pod = rig.sim.create('pods', {
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] },
    }) as SimObject;
    podUid = pod.metadata.uid!;
    kubectl = new Kubectl(rig.dir, rig.proxy.url);
    core = rig.kubeConfig().makeApiClient(k8s.CoreV1Api);
    // kubelet reads its node and pods before the outage: that is what the cache holds
    for (const args of [
      ['get', 'nodes'],
      ['get', 'node', 'node-a'],
      ['get', 'pod', 'web-1', '-n', 'default'],
    ]) {
      const r = await kubectl.run([...args, '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  it('queues node/pod status patches and events offline, serves them locally, replays them after heal', async () => {
    await rig.offline();
    // kubelet watches its own node: it must see its offline writes as events
    const watch = openWatch(
      rig,
      '/api/v1/nodes?watch=1&fieldSelector=metadata.name%3Dnode-a&allowWatchBookmarks=true',
    );

    // kubelet's node status heartbeat: a strategic merge patch with $setElementOrder
    const nodePatch = await send(
      rig,
      'PATCH',
      '/api/v1/nodes/node-a/status',
      readyHeartbeat('offline heartbeat'),
      STRATEGIC_MERGE_PATCH,
    );
    expect(nodePatch.status, JSON.stringify(nodePatch.body)).toBe(200);
    expect(nodePatch.body.metadata?.resourceVersion).toMatch(/^\d+-islet-1$/);
    expect(condition(nodePatch.body, 'Ready')).toMatchObject({
      status: 'True',
      message: 'offline heartbeat',
    });
    expect(condition(nodePatch.body, 'MemoryPressure')).toMatchObject({ status: 'False' });

    await eventually(
      'watcher saw the local change',
      () => watch.events.filter((e) => e.type === 'MODIFIED').map((e) => e.object.metadata.resourceVersion),
      (rvs) => rvs.includes(nodePatch.body.metadata?.resourceVersion),
    );
    watch.close();

    // kubectl's own status patch (a real client) coalesces into the same queued object
    const kp = await kubectl.run([
      'patch',
      'node',
      'node-a',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"allocatable":{"pods":"110"}}}',
    ]);
    expect(kp.code, kp.stderr).toBe(0);

    // kubelet's pod status patch carries the pod's uid as a precondition
    const podPatch = await send(
      rig,
      'PATCH',
      '/api/v1/namespaces/default/pods/web-1/status',
      {
        metadata: { uid: podUid },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      },
      'application/strategic-merge-patch+json',
    );
    expect(podPatch.status, JSON.stringify(podPatch.body)).toBe(200);
    expect((podPatch.body.status as { phase: string }).phase).toBe('Running');
    expect(conditions(podPatch.body).map((c) => c.type)).toEqual(['PodScheduled', 'Ready']);

    // a wrong uid fails like the API server's precondition
    const stale = await send(
      rig,
      'PATCH',
      '/api/v1/namespaces/default/pods/web-1/status',
      { metadata: { uid: 'not-this-pod' }, status: { phase: 'Failed' } },
      'application/strategic-merge-patch+json',
    );
    expect(stale.status).toBe(409);
    // an object we never saw: 404 Status, nothing queued
    const unknown = await send(
      rig,
      'PATCH',
      '/api/v1/nodes/node-zz/status',
      { status: {} },
      'application/merge-patch+json',
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });

    // events through client-node: a repeat is folded into the first with a count
    const first = await core.createNamespacedEvent({
      namespace: 'default',
      body: event('web-1.a', 'BackOff', 'restarting c'),
    });
    const repeat = await core.createNamespacedEvent({
      namespace: 'default',
      body: event('web-1.b', 'BackOff', 'restarting c'),
    });
    const other = await core.createNamespacedEvent({
      namespace: 'default',
      body: event('web-1.c', 'Pulled', 'image pulled'),
    });
    expect(first.metadata?.name).toBe('web-1.a');
    expect(repeat.metadata?.name).toBe('web-1.a');
    expect(repeat.count).toBe(2);
    expect(other.metadata?.name).toBe('web-1.c');
    expect(other.count).toBe(1);
    // kubelet's own recorder sends protobuf: the third occurrence folds in as well
    const pbEvent = await fetch(`${rig.proxy.url}/api/v1/namespaces/default/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.kubernetes.protobuf', accept: 'application/json' },
      body: encodeEvent({
        metadata: { name: 'web-1.d', namespace: 'default' },
        involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1' },
        reason: 'BackOff',
        message: 'restarting c',
        count: 1,
        lastTimestamp: new Date().toISOString(),
        type: 'Warning',
      }),
    });
    expect(pbEvent.status).toBe(201);
    expect(await pbEvent.json()).toMatchObject({ metadata: { name: 'web-1.a' }, count: 3 });

    // events.k8s.io/v1 (the scheduler's and newer components' API): repeats counted in series
    const newStyle = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { generateName: 'web-1.' },
      eventTime: new Date().toISOString().replace('Z', '000Z'),
      regarding: { kind: 'Pod', namespace: 'default', name: 'web-1' },
      reason: 'Unhealthy',
      note: 'probe failed',
      type: 'Warning',
      action: 'Probe',
      reportingController: 'kubelet',
      reportingInstance: 'node-a',
    };
    const ne1 = await send(rig, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', newStyle);
    const ne2 = await send(rig, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', newStyle);
    expect(ne1.status).toBe(201);
    expect(ne2.status).toBe(201);
    const newStyleName = (ne1.body.metadata as { name: string }).name;
    expect((ne2.body.metadata as { name: string }).name).toBe(newStyleName);
    expect(ne2.body.series).toMatchObject({ count: 2 });

    // readable locally while queued
    const node = await kubectl.json<unknown>(['get', 'node', 'node-a']);
    expect(condition(node, 'Ready')).toMatchObject({ message: 'offline heartbeat' });
    expect((node as { status: { allocatable?: { pods?: string } } }).status.allocatable?.pods).toBe('110');
    const pod = await kubectl.json<{ status: { phase: string } }>(['get', 'pod', 'web-1', '-n', 'default']);
    expect(pod.status.phase).toBe('Running');
    const ev = await send(rig, 'GET', '/api/v1/namespaces/default/events/web-1.a');
    expect(ev.status).toBe(200);
    expect(ev.body.count).toBe(3);
    expect(await rig.metric('islet_writes_queued')).toBe(5);

    // a watcher resuming from a local version (the offline LIST's or the MODIFIED it saw) is served
    const list = await send(rig, 'GET', '/api/v1/nodes');
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    const listRv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
    expect(list.body.items).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ resourceVersion: expect.stringMatching(/-islet-2$/) }),
      }),
    ]);
    for (const rv of [listRv, String(nodePatch.body.metadata?.resourceVersion)]) {
      const w = await fetch(`${rig.proxy.url}/api/v1/nodes?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
      expect(w.status, rv).toBe(200);
      await w.text();
    }

    // meanwhile upstream: the node lifecycle controller marks the node Unknown, someone labels it
    rig.sim.patch(
      'nodes',
      'node-a',
      { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } },
      { type: 'strategic', subresource: 'status' },
    );
    rig.sim.patch('nodes', 'node-a', { metadata: { labels: { drained: 'no' } } }, { type: 'merge' });
    expect(rig.sim.get('events', 'web-1.a', 'default')).toBeUndefined();
    rig.sim.resetCounters();

    await rig.onlineAndReplayed();

    const upNode = rig.sim.get('nodes', 'node-a')!;
    expect(condition(upNode, 'Ready')).toMatchObject({ status: 'True', message: 'offline heartbeat' });
    expect(condition(upNode, 'MemoryPressure')).toMatchObject({ status: 'False' });
    expect(
      (upNode as unknown as { status: { allocatable?: { pods?: string } } }).status.allocatable?.pods,
    ).toBe('110');
    expect(upNode.metadata.labels).toEqual({ zone: 'edge', drained: 'no' });
    // the node's replay conflicted with the upstream change and was re-applied to the fresh object
    const nodeWrites = rig.sim.requests.filter(
      (r) => r.resource === 'nodes' && r.subresource === 'status' && r.verb === 'update',
    );
    expect(nodeWrites.map((r) => r.status)).toEqual([409, 200]);

    const upPod = rig.sim.get('pods', 'web-1', 'default')!;
    expect((upPod as unknown as { status: { phase: string } }).status.phase).toBe('Running');
    expect(conditions(upPod).map((c) => c.type)).toEqual(['PodScheduled', 'Ready']);

    const upEvents = rig.sim.list('events', { namespace: 'default' }).items as unknown as k8s.CoreV1Event[];
    expect(upEvents.map((e) => [e.metadata?.name, e.reason, e.count]).sort()).toEqual([
      ['web-1.a', 'BackOff', 3],
      ['web-1.c', 'Pulled', 1],
    ]);
    const upNewStyle = rig.sim.get('events.k8s.io/v1/events', newStyleName, 'default') as unknown as {
      note: string;
      series?: { count: number };
    };
    expect(upNewStyle).toMatchObject({ note: 'probe failed', series: { count: 2 } });
    expect(await rig.metric('islet_writes_replayed_total', '{outcome="replayed"}')).toBe(5);

    // the replayed answers replace the local versions in the cache
    const after = await kubectl.json<{ metadata: { resourceVersion: string } }>(['get', 'node', 'node-a']);
    expect(after.metadata.resourceVersion).toBe(rig.sim.get('nodes', 'node-a')!.metadata.resourceVersion);
  });

  it('drops (and counts) a queued pod status whose pod was replaced upstream meanwhile', async () => {
    rig.sim.create('pods', {
      metadata: { name: 'job-1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Pending' },
    });
    const cached = await send(rig, 'GET', '/api/v1/namespaces/default/pods/job-1');
    expect(cached.status).toBe(200);
    await rig.offline();
    const patched = await send(
      rig,
      'PATCH',
      '/api/v1/namespaces/default/pods/job-1/status',
      { status: { phase: 'Succeeded' } },
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(200);
    // upstream, the pod is deleted and a new one with the same name created
    rig.sim.delete('pods', 'job-1', { namespace: 'default', gracePeriodSeconds: 0 });
    const replacement = rig.sim.create('pods', {
      metadata: { name: 'job-1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Pending' },
    });
    const conflictsBefore = await rig.metric('islet_writes_replayed_total', '{outcome="conflict"}');
    await rig.onlineAndReplayed();
    expect(await rig.metric('islet_writes_replayed_total', '{outcome="conflict"}')).toBe(conflictsBefore + 1);
    const upstream = rig.sim.get('pods', 'job-1', 'default')!;
    expect(upstream.metadata.uid).toBe(replacement.metadata.uid);
    expect((upstream as unknown as { status: { phase: string } }).status.phase).toBe('Pending');
  });

  it('refuses every other write offline with a 503 Status, and none reaches the API server later', async () => {
    await rig.offline();
    rig.sim.resetCounters();
    const refused: [string, string, unknown, string?][] = [
      ['POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm-offline' } }],
      ['DELETE', '/api/v1/namespaces/default/pods/web-1', undefined],
      [
        'PATCH',
        '/api/v1/namespaces/default/pods/web-1',
        { spec: { activeDeadlineSeconds: 5 } },
        'application/merge-patch+json',
      ],
      ['PUT', '/api/v1/nodes/node-a', { metadata: { name: 'node-a' } }],
      [
        'POST',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
        { metadata: { name: 'node-new' } },
      ],
      ['PATCH', '/api/v1/nodes/node-a/status', { status: {} }, 'application/apply-patch+yaml'],
    ];
    for (const [method, path, body, type] of refused) {
      const r = await send(rig, method, path, body, type);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'ServiceUnavailable',
        code: 503,
      });
      expect(String(r.body.message)).toContain(OFFLINE);
      expect(String(r.body.message)).toContain('is not accepted locally');
    }
    const configmap = await send(rig, 'POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'x' },
    });
    expect(configmap.body.message).toBe(`${OFFLINE}: create configmaps is not accepted locally`);

    const kc = await kubectl.run(['create', 'configmap', 'cm-kubectl', '--from-literal=a=b']);
    expect(kc.code).not.toBe(0);
    expect(kc.stderr).toContain('is not accepted locally');

    await rig.online();
    expect(await rig.metric('islet_writes_queued')).toBe(0);
    const writes = rig.sim.requests.filter(
      (r) => !['get', 'list', 'watch'].includes(r.verb) && r.resource !== '',
    );
    expect(writes).toEqual([]);
    expect(rig.sim.get('configmaps', 'cm-offline', 'default')).toBeUndefined();
    expect(rig.sim.get('pods', 'web-1', 'default')).toBeDefined();
  });
});
