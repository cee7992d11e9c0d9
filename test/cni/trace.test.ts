import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, requireRoot } from './lab.js';
import { useLab } from './suite.js';

interface Trace {
  isletCniTrace: Record<string, number>;
  codeCache: string;
}

/** The trace line of an ISLET_CNI_TRACE=1 call's stderr. */
function traceOf(stderr: string): Trace | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('{"isletCniTrace"'));
  return line ? (JSON.parse(line) as Trace) : undefined;
}

describe.skipIf(!requireRoot('cni/trace'))('ISLET_CNI_TRACE=1 prints where a CNI call spent its time', () => {
  let lab: CniLab;
  useLab('each', { tag: 'trc', secondOctet: 235, bridge: false }, (made) => (lab = made));

  it('an ADD prints one JSON line of phase timings that add up to the total, and that V8 took the code cache; without it, none', async () => {
    const pod = newPod('traced-0');
    const stdin = lab.ipamStdin('trace');
    const add = await lab.ipam('ADD', 'trace-c1', pod, stdin, { ISLET_CNI_TRACE: '1' });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(add.json?.ips).toBeDefined();
    const trace = traceOf(add.stderr);
    expect(trace).toBeDefined();
    // The single executable compiled the plugin's own bundle with the cache the build trained.
    expect(trace?.codeCache).toBe('accepted');
    const t = trace?.isletCniTrace;
    for (const phase of [
      'start',
      'load',
      'bundle',
      'modules',
      'input',
      'addon',
      'db-open',
      'sql',
      'delegate',
      'commit',
    ]) {
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
