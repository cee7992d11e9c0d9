import { describe, expect, it } from 'vitest';
import { jsonDepthExceeds, MAX_JSON_DEPTH, peekResourceVersion, splitJsonList } from './json-scan.js';

function items(body: string): unknown[] | undefined {
  const list = splitJsonList(Buffer.from(body));
  return list ? [...list.items()].map((i) => i.object) : undefined;
}

describe('splitJsonList', () => {
  it('yields every item as parsed from its own bytes, and the envelope without the items', () => {
    const value = {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '7', continue: 'x' },
      items: [
        { metadata: { name: 'a', annotations: { tricky: 'quote " brace } bracket ] slash \\' } } },
        { metadata: { name: 'b' }, spec: { list: [1, [2, { deep: null }]], n: -1.5e3, t: true } },
        { metadata: { name: 'ünïcode ✓' } },
      ],
    };
    for (const body of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
      const list = splitJsonList(Buffer.from(body))!;
      expect(list.envelope).toEqual({ kind: 'PodList', apiVersion: 'v1', metadata: value.metadata });
      expect(list.count).toBe(3);
      const got = [...list.items()];
      expect(got.map((i) => i.object)).toEqual(value.items);
      for (const i of got) expect(JSON.parse(i.text!)).toEqual(i.object);
    }
  });

  it('reads the items wherever they stand among the keys, and an empty list', () => {
    expect(items('{"items":[{"metadata":{"name":"a"}}],"kind":"PodList","metadata":{}}')).toEqual([
      { metadata: { name: 'a' } },
    ]);
    expect(items(' {"kind":"PodList","items":[ ],"metadata":{"resourceVersion":"1"}}\n')).toEqual([]);
  });

  it('gives up (the caller then parses the body whole) on anything else', () => {
    for (const body of [
      '',
      '[]',
      '{"kind":"Status","code":500}',
      '{"items":null}',
      '{"items":[1,2]}',
      '{"items":[{"a":1}]',
      '{"items":[{"a":"unterminated}]}',
      '{"items":[{"a":1}]} trailing',
    ]) {
      expect(splitJsonList(Buffer.from(body)), body).toBeUndefined();
    }
  });
});

describe('peekResourceVersion', () => {
  const cases: [string, string][] = [
    ['{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12"},"items":[]}', '12'],
    ['{"kind":"Pod","metadata":{"name":"a","uid":"u","resourceVersion":"7","labels":{"x":"y"}}}', '7'],
    // Nested values before it are skipped whole: a label or an owner is never taken for the object.
    [
      '{"metadata":{"labels":{"resourceVersion":"9"},"ownerReferences":[{"resourceVersion":"1"}],"resourceVersion":"7"}}',
      '7',
    ],
    ['{"items":[{"metadata":{"resourceVersion":"3"}}],"metadata":{"resourceVersion":"4"}}', '4'],
    ['{"spec":{"metadata":{"resourceVersion":"3"}},"metadata":{"resourceVersion":"4"}}', '4'],
    ['{ "kind" : "Pod", "metadata" : { "resourceVersion" : "5" } }', '5'],
    // Not within the bytes seen, not in metadata, not a string, not an object: unknown.
    ['{"items":[{"metadata":{"resourceVersion":"3"}}', ''],
    ['{"kind":"Pod","metadata":{"name":"x","resourceVer', ''],
    ['{"kind":"Pod","metadata":{"name":"x"},"resourceVersion":"5"}', ''],
    ['{"metadata":{"resourceVersion":5}}', ''],
    ['[{"metadata":{"resourceVersion":"5"}}]', ''],
  ];
  for (const [head, rv] of cases) {
    it(`${head} → "${rv}"`, () => expect(peekResourceVersion(Buffer.from(head))).toBe(rv));
  }
});

describe('jsonDepthExceeds', () => {
  const nested = (n: number) => Buffer.from(`${'[{"a":'.repeat(n)}1${'}]'.repeat(n)}`);
  it('finds nesting past the limit without recursing, however deep', () => {
    expect(jsonDepthExceeds(nested(500_000))).toBe(true);
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH / 2))).toBe(false);
    expect(jsonDepthExceeds(Buffer.from('[[[1]]]'), 3)).toBe(false);
    expect(jsonDepthExceeds(Buffer.from('[[[[1]]]]'), 3)).toBe(true);
  });
  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(jsonDepthExceeds(Buffer.from(`{"a":"${'{['.repeat(5000)}\\"${'['.repeat(5000)}"}`))).toBe(false);
    expect(jsonDepthExceeds(Buffer.from(`{"a":"unterminated ${'['.repeat(5000)}`))).toBe(false);
  });
});
