/**
 * The toleration plan for one pod: what its NoExecute tolerations for the two node-lifecycle
 * taints must become so the taint eviction controller leaves it alone for the node's autonomy
 * duration. Pure: the admission handler and the reconciler both apply the same plan.
 *
 * Facts this rests on (docs/design.md, "Cloud-side webhook"):
 *  - the taint eviction controller evicts after the MINIMUM tolerationSeconds of all tolerations
 *    matching a taint (getMinTolerationTime), so adding a longer second toleration changes
 *    nothing: the short one has to be raised;
 *  - DefaultTolerationSeconds (a built-in plugin, run before mutating webhooks) has already added
 *    `{key, operator: Exists, effect: NoExecute, tolerationSeconds: <default>}` for each key the pod
 *    does not tolerate itself;
 *  - on a pod UPDATE the API server lets tolerations be added and the tolerationSeconds of existing
 *    ones changed (nothing else), so a bound pod can still be fixed by a PATCH.
 * A toleration is ours to change only when it has exactly the default's shape and either the
 * default's seconds or the seconds we recorded on the pod; anything else the user wrote stays as
 * written, shorter or longer.
 */
import type { Autonomy } from './autonomy.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const EVICTION_TAINTS = [UNREACHABLE_TAINT, NOT_READY_TAINT] as const;

/** What we set, recorded on the pod so a later change of the node's duration can find our tolerations. */
export const MANAGED_ANNOTATION = 'islet.dev/autonomy-tolerations';

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec?: { nodeName?: string; tolerations?: Toleration[] };
}

export interface Plan {
  tolerations: Toleration[];
  /** The annotation's new value; undefined removes it. */
  annotation: string | undefined;
}

function recordedSeconds(pod: PodLike): { seconds: number | undefined } | undefined {
  const v = pod.metadata?.annotations?.[MANAGED_ANNOTATION];
  if (v === undefined) return undefined;
  if (v === 'unlimited') return { seconds: undefined };
  return /^[1-9][0-9]*$/.test(v) ? { seconds: Number(v) } : undefined;
}

/** Does `t` tolerate the taint `key:NoExecute` (the taint eviction controller's matching)? */
function tolerates(t: Toleration, key: string): boolean {
  const keyMatches = t.key === key || ((t.key ?? '') === '' && t.operator === 'Exists');
  return keyMatches && (!t.effect || t.effect === 'NoExecute');
}

function defaultShaped(t: Toleration, key: string): boolean {
  return t.key === key && t.operator === 'Exists' && t.effect === 'NoExecute' && !t.value;
}

function withSeconds(t: Toleration, seconds: number | undefined): Toleration {
  const { tolerationSeconds: _, ...rest } = t;
  return seconds === undefined ? rest : { ...rest, tolerationSeconds: seconds };
}

/**
 * The plan for `pod` on a node with `autonomy`, or undefined when nothing is to change. Pods on
 * ordinary nodes are left alone unless we changed them before (then ours go back to the default).
 */
export function planTolerations(pod: PodLike, autonomy: Autonomy, defaultSeconds: number): Plan | undefined {
  const recorded = recordedSeconds(pod);
  if (!autonomy.autonomous && recorded === undefined) return undefined;
  const target = autonomy.autonomous ? autonomy.seconds : defaultSeconds;
  const ours = (t: Toleration, key: string) =>
    defaultShaped(t, key) &&
    (t.tolerationSeconds === defaultSeconds ||
      (recorded !== undefined && t.tolerationSeconds === recorded.seconds));

  const before = pod.spec?.tolerations ?? [];
  const after = before.map((t) => {
    const key = EVICTION_TAINTS.find((k) => ours(t, k));
    return key === undefined ? t : withSeconds(t, target);
  });
  if (autonomy.autonomous) {
    for (const key of EVICTION_TAINTS) {
      if (!after.some((t) => tolerates(t, key)))
        after.push(withSeconds({ key, operator: 'Exists', effect: 'NoExecute' }, target));
    }
  }
  const annotation = autonomy.autonomous ? String(autonomy.seconds ?? 'unlimited') : undefined;
  const same =
    JSON.stringify(after) === JSON.stringify(before) &&
    annotation === pod.metadata?.annotations?.[MANAGED_ANNOTATION];
  return same ? undefined : { tolerations: after, annotation };
}

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** RFC 6902 operations that turn `pod` into the plan's result. */
export function planPatch(pod: PodLike, plan: Plan): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [{ op: 'add', path: '/spec/tolerations', value: plan.tolerations }];
  const annotations = pod.metadata?.annotations;
  const had = annotations?.[MANAGED_ANNOTATION] !== undefined;
  if (plan.annotation !== undefined) {
    if (annotations === undefined)
      ops.push({
        op: 'add',
        path: '/metadata/annotations',
        value: { [MANAGED_ANNOTATION]: plan.annotation },
      });
    else
      ops.push({
        op: 'add',
        path: `/metadata/annotations/${pointer(MANAGED_ANNOTATION)}`,
        value: plan.annotation,
      });
  } else if (had) {
    ops.push({ op: 'remove', path: `/metadata/annotations/${pointer(MANAGED_ANNOTATION)}` });
  }
  return ops;
}
