/**
 * A real edge node end to end: kubelet + containerd + the islet CNI plugin + the islet proxy,
 * installed with `islet install`, against a real API server. A pod bound to the node runs with
 * an address from the node's bridge; after the link is cut and the node reboots offline, the pod
 * runs again with the same address, and once the link is back the API server sees the same pod.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import { APP_IMAGE, EdgeNode, edgeNodeMissing } from './edge-node.js';

const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the real edge node test: ${missing}`);

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON read field by field
type Loose = any;

describe.skipIf(missing)('a real edge node (kubelet + containerd + islet CNI + islet proxy)', () => {
  let cp: ControlPlane;
  let node: EdgeNode;
  const ns = `edge-${process.pid}`;
  const podPath = `/api/v1/namespaces/${ns}/pods/web`;
  let first: { uid: string; podIP: string } | undefined;

  beforeAll(async () => {
    cp = await startControlPlane();
    await cp.ensureNamespace(ns);
    node = await EdgeNode.create(cp);
  }, 180_000);

  afterAll(async () => {
    if (node && process.env.ISLET_TEST_VERBOSE) {
      process.stderr.write(`[edge-node] kubelet log:\n${node.kubelet?.log(60)}\n`);
    }
    await node?.cleanup();
    await cp?.close();
  }, 120_000);

  const running = (p: Loose) =>
    p?.status?.phase === 'Running' &&
    (p.status.containerStatuses ?? []).every((c: Loose) => c.ready === true) &&
    typeof p.status.podIP === 'string';

  it('runs a pod bound to the node with an address from the node bridge', async () => {
    await node.boot();
    expect(node.installOutput).toContain('10-edge.conflist');
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config' },
      data: { greeting: 'hello from the cloud' },
    });
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: {
        nodeName: cp.nodeName,
        // No token: a projected service-account token needs TokenRequest, a write the API server must answer.
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'app',
            image: APP_IMAGE,
            imagePullPolicy: 'Never',
            command: [
              '/bin/sh',
              '-c',
              "cat /config/greeting; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done",
            ],
            volumeMounts: [{ name: 'config', mountPath: '/config' }],
          },
        ],
        volumes: [{ name: 'config', configMap: { name: 'web-config' } }],
      },
    });
    const pod = await eventually(
      'the pod Running with a pod IP (as the API server sees it)',
      () => cp.admin.ok('GET', podPath),
      running,
      180_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nkubelet:\n${node.kubelet?.log(60)}`);
    });
    expect(pod.status.podIP.startsWith(`${node.prefix}.`)).toBe(true);
    const nodeObj = await cp.admin.ok('GET', `/api/v1/nodes/${cp.nodeName}`);
    expect(nodeObj.status.conditions.find((c: Loose) => c.type === 'Ready')?.status).toBe('True');
    first = { uid: pod.metadata.uid, podIP: pod.status.podIP };
  }, 300_000);
});
