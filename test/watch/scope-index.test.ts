import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../proxy/types.js';
import { diffList, ScopeIndex } from '../../proxy/watch/scope-index.js';

const pod = (name: string, rv: number, ns = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, resourceVersion: String(rv) },
});

describe('diffList (the relist after a 410)', () => {
  it('turns what clients hold into the listed state', () => {
    const held = new Map<string, bigint | undefined>([
      ['default/same', 5n],
      ['default/changed', 6n],
      ['default/gone', 7n],
      ['default/unknown', undefined],
    ]);
    const d = diffList(held, [pod('same', 5), pod('changed', 9), pod('new', 11), pod('unknown', 8)]);
    expect(d.added.map((o) => o.metadata.name)).toEqual(['new']);
    expect(d.modified.map((o) => o.metadata.name).sort()).toEqual(['changed', 'unknown']);
    expect(d.deleted).toEqual(['default/gone']);
  });

  it('tells namespaces apart', () => {
    const held = new Map<string, bigint | undefined>([['a/x', 1n]]);
    const d = diffList(held, [pod('x', 1, 'b')]);
    expect(d.added.map((o) => o.metadata.namespace)).toEqual(['b']);
    expect(d.deleted).toEqual(['a/x']);
  });

  it('an empty list deletes everything held; nothing held adds everything', () => {
    expect(diffList(new Map([['default/a', 1n]]), []).deleted).toEqual(['default/a']);
    expect(diffList(new Map(), [pod('a', 1)]).added).toHaveLength(1);
  });
});

describe('ScopeIndex', () => {
  it('reports changes and deletions after a version, for replays older than the log', () => {
    const idx = ScopeIndex.fromObjects([pod('a', 3), pod('b', 12)], 10n);
    // b is newer in the store than the index's version: unknown, so always "changed".
    expect(idx.liveVersion('default/b')).toBeUndefined();
    idx.set('default/c', 15n);
    idx.delete('default/a', 16n);
    const since10 = idx.changedSince(10n);
    expect(since10.changed.sort()).toEqual(['default/b', 'default/c']);
    expect(since10.deleted).toEqual([{ name: 'default/a', rv: 16n }]);
    const since15 = idx.changedSince(15n);
    expect(since15.changed).toEqual(['default/b']);
    expect(since15.deleted).toEqual([{ name: 'default/a', rv: 16n }]);
    expect(idx.has('default/a')).toBe(false);
    expect([...idx.live().keys()].sort()).toEqual(['default/b', 'default/c']);
  });

  it('a re-created object is live again', () => {
    const idx = new ScopeIndex();
    idx.set('default/a', 1n);
    idx.delete('default/a', 2n);
    idx.set('default/a', 3n);
    expect(idx.has('default/a')).toBe(true);
    expect(idx.changedSince(2n).deleted).toEqual([]);
  });

  it('bounds its tombstones and reports the version below which deletions are forgotten', () => {
    const idx = new ScopeIndex(4);
    let floor: bigint | undefined;
    for (let i = 1; i <= 5; i++) {
      idx.set(`default/p${i}`, BigInt(i));
      floor = idx.delete(`default/p${i}`, BigInt(100 + i)) ?? floor;
    }
    expect(floor).toBe(103n);
    expect(
      idx
        .changedSince(0n)
        .deleted.map((d) => d.rv)
        .sort(),
    ).toEqual([104n, 105n]);
  });
});
