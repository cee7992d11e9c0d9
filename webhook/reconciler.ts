/**
 * Keeps the tolerations of pods already bound to autonomous nodes right: most pods get their node
 * from the scheduler after CREATE (pods/binding), so the admission webhook never sees them with a
 * node. Watches nodes and bound pods, plans each pod (tolerations.ts) and PATCHes the ones whose
 * plan changes something, guarded by a resourceVersion test so a concurrent change is never
 * overwritten (the next watch event plans it again).
 */
import type { Logger } from '../proxy/log.js';
import type { Counter } from '../proxy/metrics.js';
import { AUTONOMY_KEY, type Autonomy, type NodeMeta, nodeAutonomy } from './autonomy.js';
import { Informer, objectKey } from './informer.js';
import { ApiError, type KubeClient } from './kube.js';
import { type PodLike, planPatch, planTolerations } from './tolerations.js';

type Node = NodeMeta & { metadata?: { resourceVersion?: string } };

export class Reconciler {
  readonly nodes: Informer<Node>;
  readonly pods: Informer<PodLike>;
  private readonly byNode = new Map<string, Set<string>>();
  private readonly queue = new Set<string>();
  private draining = false;
  private readonly retries = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly client: KubeClient,
    private readonly defaultSeconds: number,
    private readonly patches: Counter,
    private readonly log: Logger,
  ) {
    this.nodes = new Informer<Node>(
      client,
      '/api/v1/nodes',
      (type, node, old) => this.onNode(type, node, old),
      log,
    );
    // Only bound pods: an unbound pod has no node to be autonomous, and pending pods may be many.
    this.pods = new Informer<PodLike>(
      client,
      `/api/v1/pods?fieldSelector=${encodeURIComponent('spec.nodeName!=')}`,
      (type, pod, old) => this.onPod(type, pod, old),
      log,
    );
  }

  get synced(): boolean {
    return this.nodes.synced && this.pods.synced;
  }

  /** The autonomy of a node from the cache; undefined while the cache is not synced. */
  autonomyOf(nodeName: string): Autonomy | undefined {
    if (!this.nodes.synced) return undefined;
    return nodeAutonomy(this.nodes.items.get(nodeName), (value, err) =>
      this.log.warn('ignoring invalid autonomy duration', {
        node: nodeName,
        key: AUTONOMY_KEY,
        value,
        error: err,
      }),
    );
  }

  run(signal: AbortSignal): Promise<unknown> {
    signal.addEventListener('abort', () => {
      for (const t of this.retries.values()) clearTimeout(t);
    });
    return Promise.all([this.nodes.run(signal), this.pods.run(signal)]);
  }

  private onNode(type: string, node: Node, old: Node | undefined): void {
    const name = node.metadata?.name ?? '';
    const value = (n?: Node) =>
      n?.metadata?.annotations?.[AUTONOMY_KEY] ?? n?.metadata?.labels?.[AUTONOMY_KEY];
    if (type === 'upsert' && old && value(old) === value(node)) return;
    for (const key of this.byNode.get(name) ?? []) this.enqueue(key);
  }

  private onPod(type: string, pod: PodLike, old: PodLike | undefined): void {
    const key = objectKey(pod);
    const oldNode = old?.spec?.nodeName;
    if (oldNode) this.byNode.get(oldNode)?.delete(key);
    if (type === 'delete') return;
    const node = pod.spec?.nodeName;
    if (node) {
      const set = this.byNode.get(node) ?? new Set<string>();
      this.byNode.set(node, set);
      set.add(key);
    }
    this.enqueue(key);
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.size > 0) {
        const key = this.queue.values().next().value as string;
        this.queue.delete(key);
        // Plans need both caches: a pod seen before its node would look "not autonomous".
        if (!this.synced) {
          this.retryLater(key, 200);
          continue;
        }
        await this.sync(key);
      }
    } finally {
      this.draining = false;
    }
  }

  private retryLater(key: string, ms: number): void {
    if (this.retries.has(key)) return;
    this.retries.set(
      key,
      setTimeout(() => {
        this.retries.delete(key);
        this.enqueue(key);
      }, ms),
    );
  }

  private async sync(key: string): Promise<void> {
    const pod = this.pods.items.get(key);
    const nodeName = pod?.spec?.nodeName;
    if (!pod || !nodeName) return;
    const autonomy = this.autonomyOf(nodeName) ?? { autonomous: false };
    const plan = planTolerations(pod, autonomy, this.defaultSeconds);
    if (!plan) return;
    const { namespace, name, resourceVersion } = pod.metadata ?? {};
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion },
      ...planPatch(pod, plan),
    ];
    try {
      await this.client.request(
        'PATCH',
        `/api/v1/namespaces/${encodeURIComponent(namespace ?? '')}/pods/${encodeURIComponent(name ?? '')}`,
        ops,
        'application/json-patch+json',
      );
      this.patches.inc({ result: 'patched' });
      this.log.info('pod tolerations set', {
        pod: key,
        node: nodeName,
        tolerationSeconds: plan.annotation ?? 'default',
      });
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      if (status === 404) return; // deleted meanwhile
      if (status === 409 || status === 422) {
        // Usually the pod changed since our cache saw it (the test op failed) and its watch event
        // brings it back; the retry covers a refusal the next plan would repeat, slowly.
        this.patches.inc({ result: 'conflict' });
        this.log.debug('pod patch refused; will plan again', { pod: key, status, error: err });
        this.retryLater(key, 2_000);
        return;
      }
      this.patches.inc({ result: 'error' });
      this.log.warn('patching pod tolerations failed; retrying', { pod: key, error: err, status });
      this.retryLater(key, 5_000);
    }
  }
}
