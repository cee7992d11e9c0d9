import * as k8s from '@kubernetes/client-node';
import { podKeys, podNames } from './cloud.js';

/**
 * A client-node pod informer on one node's pods (fieldSelector spec.nodeName=…, as kubelet
 * watches), restarted after errors the way controllers built on client-node do. It counts its own
 * LISTs: after the first one, every further LIST would be a relist.
 */
export class NodePodInformer {
  lists = 0;
  errors = 0;
  readonly events: string[] = [];
  private readonly informer: k8s.ListWatch<k8s.V1Pod>;
  private stopped = false;

  constructor(kc: k8s.KubeConfig, fieldSelector: string) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = () => {
      this.lists++;
      return core.listPodForAllNamespaces({ fieldSelector });
    };
    // makeInformer has no field selector parameter; ListWatch has.
    this.informer = new k8s.ListWatch<k8s.V1Pod>(
      '/api/v1/pods',
      new k8s.Watch(kc),
      list,
      false,
      undefined,
      fieldSelector,
    );
    this.informer.on('error', () => {
      this.errors++;
      if (!this.stopped) setTimeout(() => void this.informer.start(), 250);
    });
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.informer.on(verb, (pod) => this.events.push(`${verb} ${pod.metadata?.name}`));
    }
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
  }

  /** What it holds, as "namespace/name@resourceVersion", sorted. */
  keys(): string[] {
    return podKeys(this.informer.list());
  }

  names(): string[] {
    return podNames(this.informer.list());
  }

  resourceVersion(): string {
    return this.informer.latestResourceVersion();
  }
}
