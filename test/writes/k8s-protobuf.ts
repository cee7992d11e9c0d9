/**
 * Encodes the two objects kubelet sends as protobuf offline (Lease, core/v1 Event) the way
 * client-go does (k8s\0 + runtime.Unknown), so tests can send what a default kubelet sends.
 * Field numbers are the `protobuf:"..."` tags of k8s.io/api and apimachinery's ObjectMeta.
 */
type Fields = [number, 'string' | 'varint' | 'message' | 'bytes', unknown][];

function varint(n: bigint | number): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

function message(fields: Fields): Buffer {
  const parts: Buffer[] = [];
  for (const [num, type, value] of fields) {
    if (value === undefined) continue;
    if (type === 'varint') {
      parts.push(varint((num << 3) | 0), varint(value as number));
      continue;
    }
    const bytes =
      type === 'string'
        ? Buffer.from(String(value))
        : type === 'bytes'
          ? (value as Buffer)
          : message(value as Fields);
    parts.push(varint((num << 3) | 2), varint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

function time(iso: string | undefined): Fields | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  const micros = Number((iso.match(/\.(\d+)Z$/)?.[1] ?? '0').padEnd(6, '0').slice(0, 6));
  return [
    [1, 'varint', Math.floor(ms / 1000)],
    [2, 'varint', micros * 1000],
  ];
}

export interface MetaIn {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

function meta(m: MetaIn): Fields {
  // gogo writes every string field, empty or not, like this
  return [
    [1, 'string', m.name ?? ''],
    [2, 'string', m.generateName ?? ''],
    [3, 'string', m.namespace ?? ''],
    [4, 'string', ''],
    [5, 'string', m.uid ?? ''],
    [6, 'string', m.resourceVersion ?? ''],
    [7, 'varint', 0],
    [8, 'message', time(undefined) ?? []],
    ...Object.entries(m.labels ?? {}).map(
      ([k, v]) =>
        [
          11,
          'message',
          [
            [1, 'string', k],
            [2, 'string', v],
          ],
        ] as Fields[number],
    ),
  ];
}

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const unknown = message([
    [
      1,
      'message',
      [
        [1, 'string', apiVersion],
        [2, 'string', kind],
      ],
    ],
    [2, 'bytes', raw],
    [3, 'string', ''],
    [4, 'string', ''],
  ]);
  return Buffer.concat([Buffer.from('k8s\0', 'binary'), unknown]);
}

export function encodeLease(l: {
  metadata: MetaIn;
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string; acquireTime?: string };
}): Buffer {
  const spec: Fields = [
    [1, 'string', l.spec.holderIdentity],
    [2, 'varint', l.spec.leaseDurationSeconds],
    [3, 'message', time(l.spec.acquireTime)],
    [4, 'message', time(l.spec.renewTime)],
  ];
  return envelope(
    'coordination.k8s.io/v1',
    'Lease',
    message([
      [1, 'message', meta(l.metadata)],
      [2, 'message', spec],
    ]),
  );
}

export function encodeEvent(e: {
  metadata: MetaIn;
  involvedObject: { kind: string; namespace?: string; name: string; uid?: string };
  reason: string;
  message: string;
  count: number;
  lastTimestamp: string;
  type: string;
}): Buffer {
  return envelope(
    'v1',
    'Event',
    message([
      [1, 'message', meta(e.metadata)],
      [
        2,
        'message',
        [
          [1, 'string', e.involvedObject.kind],
          [2, 'string', e.involvedObject.namespace ?? ''],
          [3, 'string', e.involvedObject.name],
          [4, 'string', e.involvedObject.uid ?? ''],
        ],
      ],
      [3, 'string', e.reason],
      [4, 'string', e.message],
      [
        5,
        'message',
        [
          [1, 'string', 'kubelet'],
          [2, 'string', 'node-a'],
        ],
      ],
      [6, 'message', time(e.lastTimestamp)],
      [7, 'message', time(e.lastTimestamp)],
      [8, 'varint', e.count],
      [9, 'string', e.type],
      [10, 'message', []],
      [14, 'string', ''],
      [15, 'string', ''],
    ]),
  );
}

/** An object of any kind with nothing but its metadata (field 1 of every API object), e.g. a Node to register. */
export function encodeMetadataOnly(apiVersion: string, kind: string, metadata: MetaIn): Buffer {
  return envelope(apiVersion, kind, message([[1, 'message', meta(metadata)]]));
}
