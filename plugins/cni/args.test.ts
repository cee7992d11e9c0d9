import { describe, expect, it } from 'vitest';
import { parseCniArgs, podIdentity } from './args.js';
import { CniError, ErrorCode } from './errors.js';

describe('CNI_ARGS', () => {
  it('reads Kubernetes pod identity in any order, with IgnoreUnknown', () => {
    const args = parseCniArgs(
      'K8S_POD_UID=1234;IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_NAMESPACE=shop',
    );
    expect(podIdentity(args)).toEqual({ namespace: 'shop', name: 'web-0', uid: '1234' });
    expect(args.get('IgnoreUnknown')).toBe('1');
  });

  it('leaves missing fields empty (podman passes only the name)', () => {
    expect(podIdentity(parseCniArgs('K8S_POD_NAME=p'))).toEqual({ namespace: '', name: 'p', uid: '' });
    expect(podIdentity(parseCniArgs(''))).toEqual({ namespace: '', name: '', uid: '' });
  });

  it('keeps "=" inside values and tolerates empty pairs', () => {
    const args = parseCniArgs('A=b=c;;IP=10.0.0.5;');
    expect(args.get('A')).toBe('b=c');
    expect(args.get('IP')).toBe('10.0.0.5');
  });

  it('rejects a pair without a key or "=" with code 4', () => {
    for (const raw of ['justtext', '=value', 'A=1;oops']) {
      let caught: unknown;
      try {
        parseCniArgs(raw);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CniError);
      expect((caught as CniError).code).toBe(ErrorCode.InvalidEnvironment);
    }
  });
});
