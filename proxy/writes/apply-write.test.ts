import { describe, expect, it } from 'vitest';
import { isLocalResourceVersion, nextLocalResourceVersion, upstreamBaseOf } from '../resource-version.js';
import type { KubeObject } from '../types.js';
import { applyOp, opFromRequest, type WriteRequestError } from './apply-write.js';
import { PatchError } from './json-value.js';
import { LeaseLiveness } from './lease-liveness.js';

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', resourceVersion: '7', creationTimestamp: 'c' },
  spec: { nodeName: 'n1' },
  status: { phase: 'Pending' },
};

describe('applying a write', () => {
  it('changes only .status through the status subresource and never the identity', () => {
    const op = opFromRequest(
      'patch',
      'application/merge-patch+json',
      Buffer.from(
        JSON.stringify({
          spec: { nodeName: 'other' },
          status: { phase: 'Running' },
          metadata: { name: 'x' },
        }),
      ),
    );
    const out = applyOp(pod, op, 'status');
    expect(out.spec).toEqual({ nodeName: 'n1' });
    expect(out.status).toEqual({ phase: 'Running' });
    expect(out.metadata).toMatchObject({ name: 'p', namespace: 'ns', uid: 'u1', resourceVersion: '7' });
  });

  it('fails a uid precondition like the API server (409)', () => {
    const op = opFromRequest(
      'patch',
      'application/strategic-merge-patch+json',
      Buffer.from(JSON.stringify({ metadata: { uid: 'u2' }, status: { phase: 'Running' } })),
    );
    expect(() => applyOp(pod, op, 'status')).toThrow(PatchError);
    try {
      applyOp(pod, op, 'status');
    } catch (err) {
      expect((err as PatchError).code).toBe(409);
    }
  });

  it('rejects bodies it cannot read with a clear code', () => {
    const bad = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as WriteRequestError).code;
      }
      return 0;
    };
    expect(bad(() => opFromRequest('patch', 'application/apply-patch+yaml', Buffer.from('a: 1')))).toBe(503);
    expect(bad(() => opFromRequest('patch', 'text/plain', Buffer.from('{}')))).toBe(415);
    expect(
      bad(() => opFromRequest('update', 'application/vnd.kubernetes.protobuf', Buffer.from('k8s'))),
    ).toBe(415);
    expect(bad(() => opFromRequest('update', 'application/json', Buffer.from('{nope')))).toBe(400);
    expect(bad(() => opFromRequest('update', 'application/json', Buffer.from('{"kind":"Pod"}')))).toBe(400);
  });
});

describe('local resourceVersions', () => {
  it('are told apart from upstream ones and keep their base', () => {
    expect(nextLocalResourceVersion('41')).toBe('41-islet-1');
    expect(nextLocalResourceVersion('41-islet-1')).toBe('41-islet-2');
    expect(nextLocalResourceVersion(undefined)).toBe('0-islet-1');
    expect(isLocalResourceVersion('41-islet-2')).toBe(true);
    expect(isLocalResourceVersion('41')).toBe(false);
    expect(upstreamBaseOf('41-islet-2')).toBe('41');
    expect(upstreamBaseOf('41')).toBe('41');
  });
});

describe('lease liveness', () => {
  it('is alive within 2 × leaseDurationSeconds of the last renewal, not after', () => {
    let now = 1_000_000;
    const l = new LeaseLiveness({ now: () => now });
    l.record('n1', 10);
    now += 20_000;
    expect(l.check('n1').alive).toBe(true);
    now += 1;
    expect(l.check('n1')).toMatchObject({ alive: false, windowMs: 20_000 });
    l.record('n1', 10);
    expect(l.check('n1').alive).toBe(true);
  });

  it('does not hold the proxy’s own downtime against kubelet, and honours a fixed window', () => {
    let now = 0;
    const l = new LeaseLiveness({ now: () => now, windowMs: 5_000 });
    now = 4_000;
    expect(l.check('never-seen').alive).toBe(true);
    now = 6_000;
    expect(l.check('never-seen').alive).toBe(false);
  });
});

describe('ordering local versions among upstream ones', () => {
  it('puts a local version after its base and before the next upstream version', async () => {
    const { compareRv: compareWithLocal } = await import('../resource-version.js');
    expect(compareWithLocal('5', '5-islet-1')).toBe(-1);
    expect(compareWithLocal('5-islet-2', '5-islet-1')).toBe(1);
    expect(compareWithLocal('5-islet-9', '6')).toBe(-1);
    expect(compareWithLocal('10', '9-islet-1')).toBe(1);
    expect(compareWithLocal('7', '7')).toBe(0);
    expect(compareWithLocal('abc', '7')).toBeUndefined();
  });
});
