/**
 * The node's clients as they talk to the proxy, restricted to what the node authorizer lets
 * `system:node:<name>` do: kubelet's pod informer (fieldSelector spec.nodeName=<node>), its own
 * node (fieldSelector metadata.name=<node>), and kube-proxy's service informer (label selector).
 * Each informer records its LISTs, its events and its errors, so suites can tell a relist from a
 * resumed watch.
 */
import * as k8s from '@kubernetes/client-node';
import { encodeLease } from '../writes/k8s-protobuf.js';

/** kube-proxy's service selector (pkg/proxy: no headless services, no other proxy's services). */
export const KUBE_PROXY_SERVICES =
  '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

export type Named = { metadata?: { name?: string; namespace?: string; resourceVersion?: string } };

export interface NodeInformer {
  informer: k8s.ListWatch<k8s.KubernetesObject>;
  lists: number;
  errors: unknown[];
  events: string[];
  names(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

type Kind = 'pods' | 'services' | 'node';

export function nodeInformer(kc: k8s.KubeConfig, kind: Kind, nodeName: string): NodeInformer {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const t = { lists: 0, errors: [] as unknown[], events: [] as string[] } as NodeInformer;
  let path: string;
  let list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
  let labelSelector: string | undefined;
  let fieldSelector: string | undefined;
  if (kind === 'pods') {
    path = '/api/v1/pods';
    fieldSelector = `spec.nodeName=${nodeName}`;
    list = () => core.listPodForAllNamespaces({ fieldSelector });
  } else if (kind === 'node') {
    path = '/api/v1/nodes';
    fieldSelector = `metadata.name=${nodeName}`;
    list = () => core.listNode({ fieldSelector });
  } else {
    path = '/api/v1/services';
    labelSelector = KUBE_PROXY_SERVICES;
    list = () => core.listServiceForAllNamespaces({ labelSelector });
  }
  const counted = () => {
    t.lists++;
    return list();
  };
  t.informer = new k8s.ListWatch(path, new k8s.Watch(kc), counted, false, labelSelector, fieldSelector);
  t.informer.on('error', (err) => t.errors.push(err));
  for (const verb of ['add', 'update', 'delete'] as const) {
    t.informer.on(verb, (o) => t.events.push(`${verb} ${(o as Named).metadata?.name}`));
  }
  t.names = () =>
    t.informer
      .list()
      .map((o) => o.metadata?.name ?? '')
      .sort();
  t.start = () => t.informer.start();
  t.stop = () => t.informer.stop();
  return t;
}

export const sortedNames = (items: readonly Named[]) => items.map((i) => i.metadata?.name ?? '').sort();

/**
 * kubelet's node-status heartbeat as tryUpdateNodeStatus sends it (a strategic merge patch, see
 * STRATEGIC_MERGE_PATCH): its Ready condition saying `message`, with $setElementOrder.
 */
export function readyHeartbeat(message: string, at = new Date().toISOString()) {
  return {
    status: {
      '$setElementOrder/conditions': [{ type: 'MemoryPressure' }, { type: 'Ready' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message, lastHeartbeatTime: at }],
    },
  };
}

export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

/** Where kubelet keeps its node lease. */
export const LEASE_NS = 'kube-node-lease';

/**
 * kubelet's lease controller in small: keep the last lease returned and update it with a new
 * renewTime. The renewTime is a MicroTime: kube-apiserver refuses anything but 6 fractional digits
 * (the simulator takes milliseconds too).
 */
export class LeaseRenewer {
  latest: k8s.V1Lease | undefined;
  readonly results: { ok: boolean; code?: number; message?: string; rv?: string }[] = [];
  constructor(
    private readonly api: k8s.CoordinationV1Api,
    readonly node: string,
  ) {}

  async renew(): Promise<{ ok: boolean; code?: number; message?: string; rv?: string }> {
    try {
      this.latest ??= await this.api.readNamespacedLease({ name: this.node, namespace: LEASE_NS });
      const body: k8s.V1Lease = {
        ...this.latest,
        spec: { ...this.latest.spec, renewTime: new k8s.V1MicroTime() },
      };
      this.latest = await this.api.replaceNamespacedLease({ name: this.node, namespace: LEASE_NS, body });
      const r = { ok: true, rv: this.latest.metadata?.resourceVersion };
      this.results.push(r);
      return r;
    } catch (err) {
      const e = err as { code?: number; body?: unknown };
      const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : undefined;
      const r = { ok: false, code: e.code, message: body?.message };
      this.results.push(r);
      if (e.code === 409) this.latest = undefined;
      return r;
    }
  }

  /**
   * The next renewal, sent to `proxyUrl` as kubelet sends it by default (--kube-api-content-type
   * protobuf: a protobuf body, protobuf or JSON taken back); the answer as it came.
   */
  renewInProtobuf(proxyUrl: string, renewTime: string): Promise<Response> {
    const { metadata, spec } = this.latest!;
    return fetch(`${proxyUrl}/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/${this.node}`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/vnd.kubernetes.protobuf',
        accept: 'application/vnd.kubernetes.protobuf, application/json',
      },
      body: encodeLease({
        metadata: {
          name: this.node,
          namespace: LEASE_NS,
          resourceVersion: metadata!.resourceVersion!,
          uid: metadata!.uid!,
        },
        spec: {
          holderIdentity: spec!.holderIdentity!,
          leaseDurationSeconds: spec!.leaseDurationSeconds!,
          renewTime,
        },
      }),
    });
  }
}
