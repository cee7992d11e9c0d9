import { describe, expect, it } from 'vitest';
import { nodeAutonomy, parseAutonomy } from './autonomy.js';
import {
  MANAGED_ANNOTATION,
  NOT_READY_TAINT,
  planPatch,
  planTolerations,
  UNREACHABLE_TAINT,
} from './tolerations.js';

const def = (key: string, s = 300) => ({
  key,
  operator: 'Exists',
  effect: 'NoExecute',
  tolerationSeconds: s,
});
const pod = (tolerations: object[], annotations?: Record<string, string>) => ({
  metadata: { name: 'p', ...(annotations ? { annotations } : {}) },
  spec: { nodeName: 'edge-1', tolerations },
});

describe('autonomy opt-in', () => {
  it('reads Go durations, rounds up to seconds, and treats 0 and unlimited as no limit', () => {
    expect(parseAutonomy('24h')).toEqual({ autonomous: true, seconds: 86_400 });
    expect(parseAutonomy('1500ms')).toEqual({ autonomous: true, seconds: 2 });
    expect(parseAutonomy('0')).toEqual({ autonomous: true, seconds: undefined });
    expect(parseAutonomy('unlimited')).toEqual({ autonomous: true, seconds: undefined });
    expect(() => parseAutonomy('-1h')).toThrow(/negative/);
    expect(() => parseAutonomy('soon')).toThrow(/invalid duration/);
  });

  it('takes the annotation over the label and reports an invalid value as not autonomous', () => {
    const bad: string[] = [];
    const node = { metadata: { annotations: { 'islet.dev/autonomy-duration': 'soon' } } };
    expect(nodeAutonomy(node, (v) => bad.push(v))).toEqual({ autonomous: false });
    expect(bad).toEqual(['soon']);
    const both = {
      metadata: {
        annotations: { 'islet.dev/autonomy-duration': '1h' },
        labels: { 'islet.dev/autonomy-duration': '2h' },
      },
    };
    expect(nodeAutonomy(both)).toEqual({ autonomous: true, seconds: 3600 });
  });
});

describe('toleration plan', () => {
  const day = { autonomous: true as const, seconds: 86_400 };

  it('raises the defaults rather than adding longer ones (the shortest matching toleration wins)', () => {
    const plan = planTolerations(pod([def(NOT_READY_TAINT), def(UNREACHABLE_TAINT)]), day, 300);
    expect(plan?.tolerations).toEqual([def(NOT_READY_TAINT, 86_400), def(UNREACHABLE_TAINT, 86_400)]);
    expect(plan?.annotation).toBe('86400');
  });

  it('keeps what the user wrote, shorter or longer, and adds only missing keys', () => {
    const user = [{ ...def(UNREACHABLE_TAINT, 60) }, { key: 'other', operator: 'Exists' }];
    const plan = planTolerations(pod(user), day, 300);
    expect(plan?.tolerations).toEqual([...user, def(NOT_READY_TAINT, 86_400)]);
    const wildcard = planTolerations(pod([{ operator: 'Exists' }]), day, 300);
    expect(wildcard?.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('omits tolerationSeconds for unlimited autonomy and is idempotent', () => {
    const plan = planTolerations(
      pod([def(UNREACHABLE_TAINT)]),
      { autonomous: true, seconds: undefined },
      300,
    )!;
    expect(plan.tolerations).toEqual([
      { key: UNREACHABLE_TAINT, operator: 'Exists', effect: 'NoExecute' },
      { key: NOT_READY_TAINT, operator: 'Exists', effect: 'NoExecute' },
    ]);
    const again = pod(plan.tolerations, { [MANAGED_ANNOTATION]: plan.annotation! });
    expect(planTolerations(again, { autonomous: true, seconds: undefined }, 300)).toBeUndefined();
  });

  it('follows a changed duration and hands its tolerations back to the default when the node opts out', () => {
    const ours = pod([def(UNREACHABLE_TAINT, 86_400)], { [MANAGED_ANNOTATION]: '86400' });
    expect(planTolerations(ours, { autonomous: true, seconds: 3600 }, 300)?.tolerations).toEqual([
      def(UNREACHABLE_TAINT, 3600),
      def(NOT_READY_TAINT, 3600),
    ]);
    const back = planTolerations(ours, { autonomous: false }, 300)!;
    expect(back).toEqual({ tolerations: [def(UNREACHABLE_TAINT, 300)], annotation: undefined });
    expect(planPatch(ours, back)).toContainEqual({
      op: 'remove',
      path: '/metadata/annotations/islet.dev~1autonomy-tolerations',
    });
    expect(planTolerations(pod([def(UNREACHABLE_TAINT)]), { autonomous: false }, 300)).toBeUndefined();
  });
});
