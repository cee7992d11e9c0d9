import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inspectCniConfig, type PatchOutcome, patchCniConfig } from './conflist.js';

// The real-world shapes the installer meets (test/fixtures/README.md).
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'cni');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, inspected field by field
type Loose = any;

function patched(outcome: PatchOutcome): Loose {
  if (outcome.kind !== 'patched') throw new Error(`expected a patch, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.text);
}

const types = (list: Loose) => list.plugins.map((p: Loose) => p.type);
const CONTAINERD = '10-containerd-net.conflist';

describe('patchCniConfig: the recorder only when asked', () => {
  it('by default wraps the IPAM and chains nothing', () => {
    const outcome = patchCniConfig(CONTAINERD, fixture(CONTAINERD));
    const list = patched(outcome);
    expect(types(list)).toEqual(['bridge', 'portmap']);
    expect(list.plugins[0].ipam.type).toBe('islet');
    expect(list.plugins[0].ipam.delegate.type).toBe('host-local');
    expect(outcome.kind === 'patched' && outcome.changes).toEqual(['wrapped its host-local IPAM with islet']);
  });

  it('chainRecorder: wraps the IPAM and appends islet with the plugin fields last', () => {
    const outcome = patchCniConfig(CONTAINERD, fixture(CONTAINERD), {
      chainRecorder: true,
      pluginOptions: { database: '/d/ipam.db' },
    });
    const list = patched(outcome);
    expect(types(list)).toEqual(['bridge', 'portmap', 'islet']);
    expect(list.plugins.at(-1)).toEqual({ type: 'islet', database: '/d/ipam.db' });
    expect(list.plugins[0].ipam).toMatchObject({ type: 'islet', database: '/d/ipam.db' });
    expect(outcome.kind === 'patched' && outcome.changes).toEqual([
      'wrapped its host-local IPAM with islet',
      'chained islet last as the recorder',
    ]);
  });

  it('converges a configuration an earlier install chained the recorder into, both ways', () => {
    const withRecorder = (patchCniConfig(CONTAINERD, fixture(CONTAINERD), { chainRecorder: true }) as Loose)
      .text as string;
    const withoutRecorder = (patchCniConfig(CONTAINERD, fixture(CONTAINERD)) as Loose).text as string;

    const removed = patchCniConfig(CONTAINERD, withRecorder);
    expect(removed).toEqual({
      kind: 'patched',
      fileName: CONTAINERD,
      text: withoutRecorder,
      changes: ['removed the chained recorder (islet install --chain-recorder keeps it)'],
    });
    const added = patchCniConfig(CONTAINERD, withoutRecorder, { chainRecorder: true });
    expect(added).toEqual({
      kind: 'patched',
      fileName: CONTAINERD,
      text: withRecorder,
      changes: ['chained islet last as the recorder'],
    });
    expect(patchCniConfig(CONTAINERD, withRecorder, { chainRecorder: true }).kind).toBe('already');
    expect(patchCniConfig(CONTAINERD, withoutRecorder).kind).toBe('already');
  });

  it('removes every top-level islet entry (each is a recorder), keeping the wrapper inside the ipam', () => {
    const list = JSON.parse(fixture(CONTAINERD));
    list.plugins[0].ipam = { type: 'islet', delegate: list.plugins[0].ipam };
    list.plugins.splice(1, 0, { type: 'islet' });
    list.plugins.push({ type: 'islet', logLevel: 'debug' });
    const out = patched(patchCniConfig(CONTAINERD, JSON.stringify(list)));
    expect(types(out)).toEqual(['bridge', 'portmap']);
    expect(out.plugins[0].ipam.type).toBe('islet');
  });

  it('flannel: the wrapper goes into its delegate; the recorder as asked', () => {
    const plain = patched(patchCniConfig('10-flannel.conflist', fixture('10-flannel.conflist')));
    expect(types(plain)).toEqual(['flannel', 'portmap']);
    expect(plain.plugins[0].delegate.ipam).toEqual({ type: 'islet', delegate: { type: 'host-local' } });
    const chained = patched(
      patchCniConfig('10-flannel.conflist', fixture('10-flannel.conflist'), { chainRecorder: true }),
    );
    expect(types(chained)).toEqual(['flannel', 'portmap', 'islet']);
  });

  it('a single-plugin .conf becomes a conflist with or without the recorder', () => {
    for (const chainRecorder of [false, true]) {
      const outcome = patchCniConfig('99-loopback.conf', fixture('99-loopback.conf'), { chainRecorder });
      expect(outcome).toMatchObject({ fileName: '99-loopback.conflist', asideOf: '99-loopback.conf' });
      expect(types(patched(outcome))).toEqual(chainRecorder ? ['bridge', 'islet'] : ['bridge']);
    }
  });

  it('a network islet cannot wrap stays unsupported whatever is asked', () => {
    for (const chainRecorder of [false, true]) {
      const outcome = patchCniConfig('10-calico.conflist', fixture('10-calico.conflist'), { chainRecorder });
      expect(outcome.kind).toBe('unsupported');
    }
  });
});

describe('inspectCniConfig', () => {
  it('tells the wrapper and the recorder apart', () => {
    const plain = (patchCniConfig(CONTAINERD, fixture(CONTAINERD)) as Loose).text;
    const chained = (patchCniConfig(CONTAINERD, fixture(CONTAINERD), { chainRecorder: true }) as Loose).text;
    expect(inspectCniConfig(CONTAINERD, plain)).toMatchObject({ wrapper: true, recorder: false });
    expect(inspectCniConfig(CONTAINERD, chained)).toMatchObject({ wrapper: true, recorder: true });
    expect(inspectCniConfig(CONTAINERD, fixture(CONTAINERD))).toMatchObject({
      wrapper: false,
      recorder: false,
      delegateType: 'host-local',
    });
  });
});
