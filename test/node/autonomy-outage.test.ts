/**
 * islet webhook with a real kubelet: an edge node (containerd + kubelet + islet, `islet install`)
 * marked `islet.dev/autonomy-duration: 10m` loses its link for longer than the node-monitor grace
 * period plus the API server's default unreachable toleration. The node lifecycle controller marks
 * it NotReady and taints it unreachable:NoExecute, yet its pods (tolerations raised to 600 s by
 * the webhook) are not deleted; when the link returns they are Running with the same UIDs and
 * addresses and the node is Ready again.
 *
 * The eviction a node without the annotation suffers is proven in test/webhook/webhook.test.ts;
 * here a pod on a fake unannotated node cut at the same time only serves as the clock: once the
 * taint eviction controller deleted it (its 20 s default ran out) and 20 s have passed since
 * edge-1's taint, edge-1's pods outlived the default toleration. A second real kubelet as the
 * control would double the cost of the test for no more evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import {
  evictingControlPlane,
  Heartbeats,
  type RunningWebhook,
  registerLoopbackWebhook,
  startWebhook,
} from '../webhook/harness.js';
import { EdgeNode, edgeNodeMissing, sleeperPod } from './edge-node.js';

const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the autonomous node outage test: ${missing}`);

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON read field by field
type Loose = any;

const DEFAULT_SECONDS = 20;
/** 20 s, not 10 s: kubelet renews its Lease every 10 s (a quarter of its 40 s duration). */
const GRACE = '20s';
const UNREACHABLE = 'node.kubernetes.io/unreachable';
const NOT_READY = 'node.kubernetes.io/not-ready';
const MANAGED = 'islet.dev/autonomy-tolerations';
const PODS = ['keep-a', 'keep-b'] as const;

const running = (p: Loose) =>
  p?.status?.phase === 'Running' &&
  (p.status.containerStatuses ?? []).every((c: Loose) => c.ready === true) &&
  typeof p.status.podIP === 'string';
const readyStatus = (n: Loose): string | undefined =>
  (n.status.conditions ?? []).find((c: Loose) => c.type === 'Ready')?.status;
const taintedUnreachable = (n: Loose) =>
  (n.spec.taints ?? []).some((t: Loose) => t.key === UNREACHABLE && t.effect === 'NoExecute');
const secondsFor = (pod: Loose, key: string): (number | 'forever')[] =>
  (pod.spec.tolerations ?? [])
    .filter((t: Loose) => t.key === key && t.effect === 'NoExecute')
    .map((t: Loose) => t.tolerationSeconds ?? 'forever');

describe.skipIf(missing)(
  'an autonomous real edge node through an outage longer than the default toleration',
  () => {
    let cp: ControlPlane;
    let hb: Heartbeats | undefined;
    let webhook: RunningWebhook | undefined;
    let node: EdgeNode | undefined;
    const ns = `autonomy-${process.pid}`;
    const podPath = (name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;
    const getPod = async (name: string): Promise<Loose | undefined> => {
      const r = await cp.admin.request('GET', podPath(name));
      return r.status === 404 ? undefined : r.json;
    };
    const withLogs = (err: unknown) =>
      new Error(
        `${(err as Error).message}\nkubelet:\n${node?.kubelet?.log(40)}\nwebhook:\n${webhook?.logs.slice(-20).join('\n')}`,
      );

    beforeAll(async () => {
      cp = await startControlPlane(evictingControlPlane(DEFAULT_SECONDS, GRACE));
      await cp.ensureNamespace(ns);
      await eventually(
        'the default service account',
        () => cp.admin.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`),
        (r) => r.status === 200,
        60_000,
      );
      hb = new Heartbeats(cp);
      await hb.addNode('cloud-1'); // stays up: with every node down nothing is evicted
      await hb.addNode('plain-1'); // cut with edge-1: its pod is the default toleration's clock

      node = await EdgeNode.create(cp, 230);
      await node.boot();
      await eventually(
        'edge-1 registered and Ready',
        () => cp.admin.request('GET', `/api/v1/nodes/${cp.nodeName}`),
        (r) => r.status === 200 && readyStatus(r.json) === 'True',
        120_000,
      ).catch((err) => {
        throw withLogs(err);
      });
      await cp.admin.ok(
        'PATCH',
        `/api/v1/nodes/${cp.nodeName}`,
        { metadata: { annotations: { 'islet.dev/autonomy-duration': '10m' } } },
        { 'Content-Type': 'application/merge-patch+json' },
      );

      webhook = await startWebhook(await registerLoopbackWebhook(cp, DEFAULT_SECONDS));
    }, 300_000);

    afterAll(async () => {
      hb?.stop();
      await webhook?.stop();
      await node?.cleanup();
      await cp?.close();
    }, 120_000);

    it('keeps the pods (same UIDs and IPs) of an autonomous node offline past the default toleration, and the node is Ready again after the link returns', async () => {
      const admin = cp.admin;
      await admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'clock' },
        spec: { nodeName: 'plain-1', containers: [{ name: 'c', image: 'registry.invalid/none' }] },
      });
      for (const name of PODS)
        await admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, sleeperPod(name, cp.nodeName));
      const before = new Map<string, { uid: string; ip: string }>();
      for (const name of PODS) {
        // Raised at CREATE, or by the reconciler if the webhook was not called yet (failurePolicy Ignore).
        const pod = await eventually(
          `${name} Running with the autonomy tolerations`,
          () => getPod(name),
          (p) => running(p) && p.metadata.annotations?.[MANAGED] === '600',
          240_000,
        ).catch((err) => {
          throw withLogs(err);
        });
        expect([secondsFor(pod, UNREACHABLE), secondsFor(pod, NOT_READY)]).toEqual([[600], [600]]);
        before.set(name, { uid: pod.metadata.uid, ip: pod.status.podIP });
      }
      const clock = await admin.ok('GET', podPath('clock'));
      expect(secondsFor(clock, UNREACHABLE)).toEqual([DEFAULT_SECONDS]);

      // --- the cut.
      await cp.partition('refuse');
      hb!.cut('plain-1');
      const cutAt = Date.now();
      const timeline = new Map<string, number>([['link cut', cutAt]]);
      const mark = (what: string) => {
        if (!timeline.has(what)) timeline.set(what, Date.now());
      };
      const lost = new Set<string>();
      const watchPods = async () => {
        for (const name of PODS) {
          const p = await getPod(name);
          if (!p || p.metadata.deletionTimestamp || p.metadata.uid !== before.get(name)!.uid) lost.add(name);
        }
      };
      await eventually(
        `edge-1 tainted unreachable for ${DEFAULT_SECONDS} s and the clock pod evicted`,
        async () => {
          const n = await admin.ok('GET', `/api/v1/nodes/${cp.nodeName}`);
          if (readyStatus(n) !== 'True') mark('edge-1 NotReady');
          if (taintedUnreachable(n)) mark('edge-1 tainted unreachable');
          const c = await getPod('clock');
          if (!c || c.metadata.deletionTimestamp) mark('clock pod (default toleration) evicted');
          await watchPods();
          const tainted = timeline.get('edge-1 tainted unreachable');
          return (
            tainted !== undefined &&
            Date.now() - tainted >= DEFAULT_SECONDS * 1000 &&
            timeline.has('clock pod (default toleration) evicted')
          );
        },
        Boolean,
        240_000,
      );
      expect([...lost], 'pods deleted during the outage').toEqual([]);
      expect(node!.kubelet?.running, 'kubelet kept running offline').toBe(true);

      // --- the link returns.
      await cp.heal();
      mark('link restored');
      const after = await eventually(
        'edge-1 Ready, untainted, and its pods Running again',
        async () => {
          await watchPods();
          const n = await admin.ok('GET', `/api/v1/nodes/${cp.nodeName}`);
          if (readyStatus(n) !== 'True') return undefined;
          mark('edge-1 Ready');
          if (taintedUnreachable(n)) return undefined;
          mark('edge-1 untainted');
          const pods = await Promise.all(PODS.map(getPod));
          return pods.every(running) ? pods : undefined;
        },
        Boolean,
        240_000,
      ).catch((err) => {
        throw withLogs(err);
      });
      console.log(
        `[autonomy-outage] timeline (from the cut; grace ${GRACE}, default toleration ${DEFAULT_SECONDS} s, edge-1 autonomy 10m):\n${[
          ...timeline,
        ]
          .sort((a, b) => a[1] - b[1])
          .map(([what, t]) => `  ${`${((t - cutAt) / 1000).toFixed(1)} s`.padStart(8)}  ${what}`)
          .join('\n')}`,
      );
      expect([...lost], 'pods deleted during the outage or after the restore').toEqual([]);
      const tainted = timeline.get('edge-1 tainted unreachable')!;
      expect(timeline.get('link restored')! - tainted).toBeGreaterThanOrEqual(DEFAULT_SECONDS * 1000);
      for (const [i, name] of PODS.entries()) {
        const p = after![i];
        expect([p.metadata.uid, p.status.podIP, p.status.phase], name).toEqual([
          before.get(name)!.uid,
          before.get(name)!.ip,
          'Running',
        ]);
        expect(p.metadata.deletionTimestamp, name).toBeUndefined();
      }
    }, 600_000);
  },
);
