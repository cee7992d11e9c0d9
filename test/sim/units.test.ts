/** The simulator's own selector parser and patch engines, checked against apimachinery's rules. */
import { describe, expect, it } from 'vitest';
import {
  decodeProtobufObject,
  jsonPatch,
  matchesFields,
  matchesLabels,
  mergePatch,
  parseFieldSelector,
  parseLabelSelector,
  StatusError,
  strategicMerge,
} from './index.js';

const sel = (s: string, labels: Record<string, string>) => matchesLabels(parseLabelSelector(s), labels);

describe('label selectors', () => {
  it('evaluates every operator like apimachinery', () => {
    expect(sel('', {})).toBe(true);
    expect(sel('a=1', { a: '1' })).toBe(true);
    expect(sel('a==1', { a: '2' })).toBe(false);
    expect(sel('a!=1', {})).toBe(true); // absent keys satisfy !=
    expect(sel('a in (1, 2)', { a: '2' })).toBe(true);
    expect(sel('a notin (1,2)', {})).toBe(true);
    expect(sel('a notin (1,2)', { a: '1' })).toBe(false);
    expect(sel('a', { a: '' })).toBe(true);
    expect(sel('!a', { a: '' })).toBe(false);
    expect(sel('a,b=2', { a: 'x', b: '2' })).toBe(true);
    expect(sel('a>3', { a: '10' })).toBe(true);
    expect(sel('a<3', { a: 'x' })).toBe(false);
    expect(sel('app.kubernetes.io/name=web', { 'app.kubernetes.io/name': 'web' })).toBe(true);
    expect(sel('a=', { a: '' })).toBe(true);
  });

  it('rejects malformed selectors with 400 Status errors', () => {
    for (const bad of ['a in (1', 'a b', '=1', 'a=b=c', 'a in 1', 'Bad Key=1', 'a=-x-', 'a>x', ',']) {
      expect(() => parseLabelSelector(bad), bad).toThrow(StatusError);
    }
    try {
      parseLabelSelector('a in (');
    } catch (e) {
      expect((e as StatusError).code).toBe(400);
    }
  });
});

describe('field selectors', () => {
  const p = {
    metadata: { name: 'p', namespace: 'ns' },
    spec: { nodeName: 'n1' },
    status: { phase: 'Running' },
  };

  it('parses =, ==, != with escapes and compares strings', () => {
    expect(parseFieldSelector('a=b,c!=d,e==f\\,g')).toEqual([
      { field: 'a', op: '=', value: 'b' },
      { field: 'c', op: '!=', value: 'd' },
      { field: 'e', op: '=', value: 'f,g' },
    ]);
    expect(matchesFields(parseFieldSelector('spec.nodeName=n1,status.phase!=Pending'), p)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.namespace=other'), p)).toBe(false);
    expect(matchesFields(parseFieldSelector('spec.hostNetwork=false'), p)).toBe(true);
    expect(matchesFields(parseFieldSelector('spec.nodeName='), { metadata: { name: 'x' } })).toBe(true);
    expect(() => parseFieldSelector('novalue')).toThrow(StatusError);
    expect(() => parseFieldSelector('a=b\\x')).toThrow(StatusError);
  });
});

describe('patches', () => {
  it('merge patch follows RFC 7386', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3] })).toEqual({
      a: 1,
      b: { d: 3, e: 4 },
      l: [3],
    });
  });

  it('strategic merge merges keyed lists and honours directives', () => {
    const node = {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'DiskPressure', status: 'False' },
        ],
        images: [{ names: ['a'] }],
      },
      metadata: { finalizers: ['x'], labels: { keep: '1', drop: '1' } },
    };
    const out = strategicMerge(node, {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'DiskPressure', $patch: 'delete' },
          { type: 'PIDPressure', status: 'False' },
        ],
        images: [{ names: ['b'] }],
      },
      metadata: { finalizers: ['y', 'x'], labels: { drop: null } },
    });
    expect(out).toEqual({
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'PIDPressure', status: 'False' },
        ],
        images: [{ names: ['b'] }],
      },
      metadata: { finalizers: ['x', 'y'], labels: { keep: '1' } },
    });
    expect(strategicMerge({ spec: { a: 1, b: 2 } }, { spec: { $patch: 'replace', c: 3 } })).toEqual({
      spec: { c: 3 },
    });
    expect(strategicMerge({ spec: { a: 1, b: 2 } }, { spec: { $retainKeys: ['b', 'c'], c: 3 } })).toEqual({
      spec: { b: 2, c: 3 },
    });
    expect(
      strategicMerge(
        { metadata: { finalizers: ['a', 'b'] } },
        { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } },
      ),
    ).toEqual({ metadata: { finalizers: ['b'] } });
    expect(
      strategicMerge(
        {
          spec: {
            containers: [
              { name: 'c', image: 'a' },
              { name: 'd', image: 'x' },
            ],
          },
        },
        {
          spec: { containers: [{ name: 'c', image: 'b' }] },
        },
      ),
    ).toEqual({
      spec: {
        containers: [
          { name: 'c', image: 'b' },
          { name: 'd', image: 'x' },
        ],
      },
    });
  });

  it('JSON patch implements add/remove/replace/move/copy/test with pointer escapes', () => {
    const doc = { metadata: { annotations: { 'a/b': '1' } }, list: [1, 2] };
    expect(
      jsonPatch(doc, [
        { op: 'replace', path: '/metadata/annotations/a~1b', value: '2' },
        { op: 'add', path: '/list/-', value: 3 },
        { op: 'add', path: '/list/0', value: 0 },
        { op: 'remove', path: '/list/1' },
        { op: 'copy', from: '/list', path: '/copy' },
        { op: 'move', from: '/copy', path: '/moved' },
        { op: 'test', path: '/moved/0', value: 0 },
      ]),
    ).toEqual({ metadata: { annotations: { 'a/b': '2' } }, list: [0, 2, 3], moved: [0, 2, 3] });
    expect(doc.list).toEqual([1, 2]); // the input is not mutated
    expect(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(StatusError);
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/list/0', value: 9 }])).toThrow(StatusError);
    expect(() => jsonPatch(doc, { op: 'add' })).toThrow(StatusError);
  });
});

describe('protobuf request bodies', () => {
  // A minimal writer for the test: varint / length-delimited fields, as gogo-protobuf emits them.
  const varint = (n: number): Buffer => {
    const out: number[] = [];
    let v = n;
    do {
      let b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
    return Buffer.from(out);
  };
  const bytesField = (num: number, b: Buffer) => Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
  const str = (num: number, s: string) => bytesField(num, Buffer.from(s));
  const int = (num: number, n: number) => Buffer.concat([varint(num << 3), varint(n)]);

  it("decodes kubelet's Lease like the API server reads it", () => {
    const renew = Date.parse('2026-11-22T10:00:00.123456Z') / 1000;
    const time = Buffer.concat([int(1, Math.floor(renew)), int(2, 123456000)]);
    const meta = Buffer.concat([
      str(1, 'node-a'),
      str(2, ''),
      str(3, 'kube-node-lease'),
      int(7, 0),
      bytesField(11, Buffer.concat([str(1, 'k'), str(2, 'v')])),
    ]);
    const spec = Buffer.concat([str(1, 'node-a'), int(2, 40), bytesField(4, time)]);
    const raw = Buffer.concat([bytesField(1, meta), bytesField(2, spec)]);
    const typeMeta = Buffer.concat([str(1, 'coordination.k8s.io/v1'), str(2, 'Lease')]);
    const body = Buffer.concat([Buffer.from('k8s\0', 'binary'), bytesField(1, typeMeta), bytesField(2, raw)]);
    expect(decodeProtobufObject(body)).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-a', namespace: 'kube-node-lease', labels: { k: 'v' } },
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40, renewTime: '2026-11-22T10:00:00.123456Z' },
    });
    expect(() => decodeProtobufObject(Buffer.from('{"json":true}'))).toThrow(StatusError);
    const pod = Buffer.concat([
      Buffer.from('k8s\0', 'binary'),
      bytesField(1, Buffer.concat([str(1, 'v1'), str(2, 'Pod')])),
    ]);
    expect(() => decodeProtobufObject(pod)).toThrow(
      /decodes application\/vnd.kubernetes.protobuf bodies only for/,
    );
  });
});
