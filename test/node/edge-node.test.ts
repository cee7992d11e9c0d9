/**
 * A real edge node end to end: kubelet + containerd + the islet CNI plugin + the islet proxy,
 * installed with `islet install`, against a real API server. A pod bound to the node runs with
 * an address from the node's bridge; after the link is cut and the node reboots offline, the pod
 * runs again with the same address, and once the link is back the API server sees the same pod.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../lib/sqlite.js';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import { EdgeNode, edgeNodeMissing, sleeperPod } from './edge-node.js';

const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the real edge node test: ${missing}`);

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON read field by field
type Loose = any;

/** Prints what the proxy answered, and singles out what it could not serve (a defect list for the report). */
function reportProxyRequests(phase: string, counts: Map<string, number>): void {
  const lines = [...counts].sort().map(([k, v]) => `  ${k} x${v}`);
  // A create answered 409 AlreadyExists is served: the API server says the same for an object it has.
  const served = (k: string) => / [23]\d\d /.test(k) || /^create \S+ 409 /.test(k);
  const failed = [...counts].filter(([k]) => !served(k)).map(([k, v]) => `  ${k} x${v}`);
  console.log(
    `[edge-node] proxy answers during the ${phase} (verb resource code served_from):\n${lines.join('\n')}\n` +
      `[edge-node] not served during the ${phase}:\n${failed.join('\n') || '  (none)'}`,
  );
}

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
    // islet install wrapped the network's IPAM (and, by default, chained no recorder).
    const conflist = JSON.parse(readFileSync(node.at('etc/cni/net.d/10-edge.conflist'), 'utf8'));
    expect(conflist.plugins.map((p: Loose) => p.type)).toEqual(['bridge']);
    expect(conflist.plugins[0].ipam.type).toBe('islet');
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config' },
      data: { greeting: 'hello from the cloud' },
    });
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, sleeperPod('web', cp.nodeName, 'web-config'));
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

  it('runs the pod again with the same address after an offline reboot; the API server sees it once the link is back', async () => {
    if (!first) throw new Error('needs the running pod of the previous test');
    await cp.partition('refuse');
    await node.powerCut();
    await node.boot();

    // Offline: kubelet, reading its pods from the proxy's cache, starts a new sandbox and the
    // islet plugin gives it the address the pod had before the reboot.
    const sandbox = await eventually(
      'a ready sandbox for the pod after the offline reboot',
      () => node.readySandbox('web'),
      (s) => s !== undefined && s.ip !== '',
      180_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nkubelet:\n${node.kubelet?.log(60)}`);
    });
    expect(sandbox!.ip).toBe(first.podIP);
    // The address came from the installed islet plugin: its database holds the new sandbox's attachment.
    const db = openDatabase(node.at('var/lib/islet/ipam.db'), { readonly: true });
    const attachment = db
      .prepare('SELECT state, ips, boot_id FROM attachments WHERE container_id = ?')
      .get(sandbox!.id) as { state: string; ips: string; boot_id: string } | undefined;
    db.close();
    console.log(`[edge-node] islet attachment of the new sandbox: ${JSON.stringify(attachment)}`);
    expect(attachment?.boot_id).toBe(node.bootId);
    expect(JSON.parse(attachment?.ips ?? '[]').map((c: string) => c.split('/')[0])).toEqual([first.podIP]);
    const container = await eventually(
      'the app container running after the offline reboot',
      () => node.runningContainer('app'),
      Boolean,
      180_000,
    );
    const offline = await node.proxyRequests();
    reportProxyRequests('offline boot', offline);
    console.log(`[edge-node] kubelet restarts during the offline boot: ${node.kubelet?.restarts ?? 0}`);

    await cp.heal();
    const pod = await eventually(
      'the API server to see the pod running in its new container',
      () => cp.admin.ok('GET', podPath),
      (p) => running(p) && p.status.containerStatuses[0].containerID === `containerd://${container}`,
      180_000,
    );
    expect(pod.metadata.uid).toBe(first.uid);
    expect(pod.status.podIP).toBe(first.podIP);
    expect(pod.status.phase).toBe('Running');
    // kubelet read its Node and its pod from the proxy's cache while offline.
    expect(offline.get('get nodes 200 cache')).toBeGreaterThan(0);
    expect(offline.get('get pods 200 cache')).toBeGreaterThan(0);
  }, 600_000);
});
