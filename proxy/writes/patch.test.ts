import { describe, expect, it } from 'vitest';
import { applyJsonPatch } from './json-patch.js';
import { PatchError } from './json-value.js';
import { applyMergePatch } from './merge-patch.js';
import { applyStrategicMergePatch } from './strategic-merge.js';

const node = () => ({
  metadata: { name: 'n1', labels: { a: '1' } },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: 't0' },
      { type: 'Ready', status: 'True', lastHeartbeatTime: 't0' },
    ],
    addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    images: [{ names: ['a'] }, { names: ['b'] }],
  },
});

describe('strategic merge patch', () => {
  it('merges conditions by type and keeps the ones the patch does not name', () => {
    const out = applyStrategicMergePatch(node(), {
      status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] },
    });
    expect(out.status).toMatchObject({
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'False', reason: 'KubeletNotReady', lastHeartbeatTime: 't0' },
      ],
    });
  });

  it('replaces lists without a merge strategy, deletes with null and $patch: delete', () => {
    const out = applyStrategicMergePatch(node(), {
      metadata: { labels: { a: null, b: '2' } },
      status: {
        images: [{ names: ['c'] }],
        conditions: [{ type: 'MemoryPressure', $patch: 'delete' }],
      },
    });
    expect(out.metadata).toEqual({ name: 'n1', labels: { b: '2' } });
    expect((out.status as { images: unknown }).images).toEqual([{ names: ['c'] }]);
    expect((out.status as { conditions: { type: string }[] }).conditions.map((c) => c.type)).toEqual([
      'Ready',
    ]);
  });

  it('orders by $setElementOrder as kubelet sends it, new items appended', () => {
    const out = applyStrategicMergePatch(node(), {
      status: {
        '$setElementOrder/conditions': [
          { type: 'Ready' },
          { type: 'PIDPressure' },
          { type: 'MemoryPressure' },
        ],
        conditions: [{ type: 'PIDPressure', status: 'False' }],
      },
    });
    expect((out.status as { conditions: { type: string }[] }).conditions.map((c) => c.type)).toEqual([
      'Ready',
      'PIDPressure',
      'MemoryPressure',
    ]);
  });

  it('honours $patch: replace on a map and on a merge list', () => {
    const replacedMap = applyStrategicMergePatch(node(), {
      metadata: { labels: { $patch: 'replace', z: '9' } },
    });
    expect(replacedMap.metadata).toEqual({ name: 'n1', labels: { z: '9' } });
    const replacedList = applyStrategicMergePatch(node(), {
      status: { conditions: [{ $patch: 'replace' }, { type: 'Ready', status: 'Unknown' }] },
    });
    expect((replacedList.status as { conditions: unknown }).conditions).toEqual([
      { type: 'Ready', status: 'Unknown' },
    ]);
  });

  it('merges primitive merge lists and deletes from them', () => {
    const base = { metadata: { name: 'x', finalizers: ['a', 'b'] } };
    expect(applyStrategicMergePatch(base, { metadata: { finalizers: ['c', 'a'] } }).metadata).toEqual({
      name: 'x',
      finalizers: ['a', 'b', 'c'],
    });
    expect(
      applyStrategicMergePatch(base, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }).metadata,
    ).toEqual({ name: 'x', finalizers: ['b'] });
  });

  it('refuses a merge-list item without its key', () => {
    expect(() => applyStrategicMergePatch(node(), { status: { conditions: [{ status: 'True' }] } })).toThrow(
      /merge key "type"/,
    );
  });
});

describe('JSON merge patch', () => {
  it('merges maps, deletes nulls, replaces lists', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});

describe('JSON patch', () => {
  it('applies add/replace/remove/move/copy/test in order', () => {
    const doc = { status: { conditions: [{ type: 'Ready' }], phase: 'Pending' } };
    const out = applyJsonPatch(doc, [
      { op: 'test', path: '/status/phase', value: 'Pending' },
      { op: 'replace', path: '/status/phase', value: 'Running' },
      { op: 'add', path: '/status/conditions/-', value: { type: 'Initialized' } },
      { op: 'copy', from: '/status/phase', path: '/status/copied' },
      { op: 'move', from: '/status/copied', path: '/status/moved' },
      { op: 'remove', path: '/status/conditions/0' },
    ]);
    expect(out).toEqual({
      status: { conditions: [{ type: 'Initialized' }], phase: 'Running', moved: 'Running' },
    });
    expect(doc.status.phase).toBe('Pending');
  });

  it('fails a test op and a missing path with a PatchError', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }])).toThrow(
      /does not exist/,
    );
    expect(() => applyJsonPatch({ a: 1 }, { op: 'add' })).toThrow(/array/);
  });
});

describe('patches that name prototype keys', () => {
  const polluted = () => (({}) as Record<string, unknown>).polluted;
  const patchCode = (fn: () => unknown): number | undefined => {
    try {
      fn();
    } catch (err) {
      if (err instanceof PatchError) return err.code;
      throw err;
    }
    return undefined;
  };

  it('refuses a JSON patch through __proto__, constructor or prototype with 400 and pollutes nothing', () => {
    for (const path of [
      '/__proto__/polluted',
      '/status/__proto__/polluted',
      '/constructor/prototype/polluted',
      '/status/constructor',
    ]) {
      expect(
        patchCode(() => applyJsonPatch({ status: {} }, [{ op: 'add', path, value: 1 }])),
        path,
      ).toBe(400);
    }
    expect(patchCode(() => applyJsonPatch({}, [{ op: 'copy', from: '/__proto__', path: '/x' }]))).toBe(400);
    expect(polluted()).toBeUndefined();
  });

  it('does not follow inherited properties such as toString', () => {
    expect(() => applyJsonPatch({ a: {} }, [{ op: 'add', path: '/toString/x', value: 1 }])).toThrow(
      /does not exist/,
    );
    expect(() => applyJsonPatch({ a: {} }, [{ op: 'remove', path: '/hasOwnProperty' }])).toThrow(
      /does not exist/,
    );
    expect(() => applyJsonPatch({ a: {} }, [{ op: 'test', path: '/valueOf', value: null }])).toThrow(
      /does not exist/,
    );
  });

  it('refuses merge and strategic merge patches with a __proto__ key (as JSON.parse leaves it)', () => {
    const body = JSON.parse('{"status":{"__proto__":{"polluted":1}}}');
    expect(patchCode(() => applyMergePatch({ status: {} }, body))).toBe(400);
    expect(patchCode(() => applyStrategicMergePatch({ status: {} }, body))).toBe(400);
    const top = JSON.parse('{"__proto__":{"polluted":1}}');
    expect(patchCode(() => applyMergePatch({}, top))).toBe(400);
    expect(patchCode(() => applyStrategicMergePatch({}, top))).toBe(400);
    expect(patchCode(() => applyStrategicMergePatch({}, { '$setElementOrder/__proto__': [] }))).toBe(400);
    expect(polluted()).toBeUndefined();
  });

  it('treats inherited names as plain fields in a strategic merge patch', () => {
    const out = applyStrategicMergePatch({ toString: [1] }, { toString: [2], valueOf: { a: 1 } });
    expect(out).toEqual({ toString: [2], valueOf: { a: 1 } });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('a test op compares structurally, whatever the key order', () => {
    const doc = { status: { c: { a: 1, b: [{ x: 1, y: 2 }] } } };
    expect(() =>
      applyJsonPatch(doc, [{ op: 'test', path: '/status/c', value: { b: [{ y: 2, x: 1 }], a: 1 } }]),
    ).not.toThrow();
    expect(() =>
      applyJsonPatch(doc, [{ op: 'test', path: '/status/c', value: { b: [{ y: 2, x: 1 }], a: 2 } }]),
    ).toThrow(/test failed/);
  });
});
