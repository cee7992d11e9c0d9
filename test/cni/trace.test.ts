import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, requireRoot } from './lab.js';
import { useLab } from './suite.js';

/** The phases line of an ISLET_CNI_TRACE=1 call's stderr. */
function traceOf(stderr: string): Record<string, number> | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('{"isletCniTrace"'));
  return line ? (JSON.parse(line) as { isletCniTrace: Record<string, number> }).isletCniTrace : undefined;
}

describe.skipIf(!requireRoot('cni/trace'))('ISLET_CNI_TRACE=1 prints where a CNI call spent its time', () => {
  let lab: CniLab;
  useLab('each', { tag: 'trc', secondOctet: 235, bridge: false }, (made) => (lab = made));

  it('an ADD prints one JSON line of phase timings that add up to the total; without it, none', async () => {
    const pod = newPod('traced-0');
    const stdin = lab.ipamStdin('trace');
    const add = await lab.ipam('ADD', 'trace-c1', pod, stdin, { ISLET_CNI_TRACE: '1' });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(add.json?.ips).toBeDefined();
    const t = traceOf(add.stderr);
    expect(t).toBeDefined();
    for (const phase of ['start', 'bundle', 'modules', 'input', 'addon', 'db-open', 'delegate', 'commit']) {
      expect(t?.[phase], phase).toBeGreaterThan(0);
    }
    const { total, ...phases } = t!;
    const sum = Object.values(phases).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - total!)).toBeLessThan(0.01);

    const plain = await lab.ipam('DEL', 'trace-c1', pod, stdin);
    expect(plain.code, plain.stderr + plain.stdout).toBe(0);
    expect(traceOf(plain.stderr)).toBeUndefined();
  });
});
