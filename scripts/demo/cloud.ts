import { randomUUID } from 'node:crypto';
import { type CertFiles, type SimObject, type Simulator, startSimulator } from '../../test/sim/index.js';

/** The edge node of the story and the selector its kubelet uses for its own pods. */
export const NODE = 'edge-1';
export const NODE_SELECTOR = `spec.nodeName=${NODE}`;

export interface CloudPod {
  namespace: string;
  name: string;
  uid: string;
}

export function podObject(pod: CloudPod, node: string, app: string): SimObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, labels: { app } },
    spec: { nodeName: node, containers: [{ name: app, image: `registry.example/${app}:1.0` }] },
    status: { phase: 'Running' },
  };
}

export function newCloudPod(name: string, namespace = 'default'): CloudPod {
  return { namespace, name, uid: randomUUID() };
}

/** The simulator playing the cloud's API server, with the node's client certificate. */
export interface Cloud {
  sim: Simulator;
  nodeCert: CertFiles;
}

export async function startCloud(): Promise<Cloud> {
  // Bookmarks every 300 ms keep resumable versions fresh, as a busy API server's would.
  const sim = await startSimulator({ bookmarkIntervalMs: 300 });
  try {
    return { sim, nodeCert: await sim.mintClientCert(NODE) };
  } catch (err) {
    await sim.close();
    throw err;
  }
}

/** The cloud's truth about the node's pods, as "namespace/name@resourceVersion", sorted. */
export function cloudNodePods(sim: Simulator): string[] {
  return podKeys(sim.list('pods', { fieldSelector: NODE_SELECTOR }).items);
}

type Named = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } };

export function podKeys(items: readonly unknown[]): string[] {
  return (items as Named[])
    .map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}@${o.metadata?.resourceVersion}`)
    .sort();
}

export function podNames(items: readonly unknown[]): string[] {
  return (items as Named[]).map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`).sort();
}
