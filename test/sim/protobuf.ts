/**
 * Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`: "k8s\0" + a
 * runtime.Unknown envelope) for the kinds typed clients write to the simulated resources: kubelet's
 * Lease and Event, kubectl's imperative `create configmap|secret|namespace`. Field numbers are the
 * `protobuf:"..."` tags of k8s.io/api and apimachinery; JSON comes out as the API server would
 * render it (omitempty fields dropped, times in RFC 3339).
 */
import { errors, StatusError } from './status.js';

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';

type FieldType =
  | 'string'
  | 'int'
  | 'bool'
  | 'bytes'
  | 'time'
  | 'microtime'
  | 'map<string,string>'
  | 'map<string,bytes>'
  | Schema;

interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** Pointer fields in Go: a zero value on the wire is still a value. */
  keepZero?: boolean;
}

type Schema = { [num: number]: Field };

const f = (name: string, type: FieldType, o: Partial<Field> = {}): Field => ({ name, type, ...o });

const OWNER_REFERENCE: Schema = {
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('controller', 'bool', { keepZero: true }),
  7: f('blockOwnerDeletion', 'bool', { keepZero: true }),
};

const OBJECT_META: Schema = {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  4: f('selfLink', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int'),
  8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'),
  10: f('deletionGracePeriodSeconds', 'int', { keepZero: true }),
  11: f('labels', 'map<string,string>'),
  12: f('annotations', 'map<string,string>'),
  13: f('ownerReferences', OWNER_REFERENCE, { repeated: true }),
  14: f('finalizers', 'string', { repeated: true }),
};

const OBJECT_REFERENCE: Schema = {
  1: f('kind', 'string'),
  2: f('namespace', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('fieldPath', 'string'),
};

const KINDS: Record<string, Schema> = {
  'coordination.k8s.io/v1/Lease': {
    1: f('metadata', OBJECT_META),
    2: f('spec', {
      1: f('holderIdentity', 'string', { keepZero: true }),
      2: f('leaseDurationSeconds', 'int', { keepZero: true }),
      3: f('acquireTime', 'microtime'),
      4: f('renewTime', 'microtime'),
      5: f('leaseTransitions', 'int', { keepZero: true }),
      6: f('strategy', 'string'),
      7: f('preferredHolder', 'string'),
    }),
  },
  'v1/Event': {
    1: f('metadata', OBJECT_META),
    2: f('involvedObject', OBJECT_REFERENCE),
    3: f('reason', 'string'),
    4: f('message', 'string'),
    5: f('source', { 1: f('component', 'string'), 2: f('host', 'string') }),
    6: f('firstTimestamp', 'time'),
    7: f('lastTimestamp', 'time'),
    8: f('count', 'int'),
    9: f('type', 'string'),
    10: f('eventTime', 'microtime'),
    11: f('series', { 1: f('count', 'int'), 2: f('lastObservedTime', 'microtime') }),
    12: f('action', 'string'),
    13: f('related', OBJECT_REFERENCE),
    14: f('reportingComponent', 'string'),
    15: f('reportingInstance', 'string'),
  },
  'v1/ConfigMap': {
    1: f('metadata', OBJECT_META),
    2: f('data', 'map<string,string>'),
    3: f('binaryData', 'map<string,bytes>'),
    4: f('immutable', 'bool', { keepZero: true }),
  },
  'v1/Secret': {
    1: f('metadata', OBJECT_META),
    2: f('data', 'map<string,bytes>'),
    3: f('type', 'string'),
    4: f('stringData', 'map<string,string>'),
    5: f('immutable', 'bool', { keepZero: true }),
  },
  'v1/Namespace': {
    1: f('metadata', OBJECT_META),
    2: f('spec', { 1: f('finalizers', 'string', { repeated: true }) }),
    3: f('status', { 1: f('phase', 'string') }),
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw errors.badRequest('protobuf: truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw errors.badRequest('protobuf: varint too long');
    }
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw errors.badRequest('protobuf: truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw errors.badRequest(`protobuf: unsupported wire type ${wire}`);
  }
}

/** Raw fields of one message: field number → values in order (varints as bigint, the rest as bytes). */
function fields(buf: Buffer): Map<number, Array<bigint | Buffer>> {
  const r = new Reader(buf);
  const out = new Map<number, Array<bigint | Buffer>>();
  while (!r.done) {
    const key = Number(r.varint());
    const num = key >>> 3;
    const wire = key & 7;
    let v: bigint | Buffer;
    if (wire === 0) v = r.varint();
    else if (wire === 2) v = r.bytes();
    else {
      r.skip(wire);
      continue;
    }
    const list = out.get(num) ?? [];
    list.push(v);
    out.set(num, list);
  }
  return out;
}

function asBytes(v: bigint | Buffer, name: string): Buffer {
  if (!Buffer.isBuffer(v)) throw errors.badRequest(`protobuf: field ${name} has the wrong wire type`);
  return v;
}

function timestamp(b: Buffer, micro: boolean): string | undefined {
  const t = fields(b);
  const seconds = Number(BigInt.asIntN(64, (t.get(1)?.[0] as bigint | undefined) ?? 0n));
  const nanos = Number((t.get(2)?.[0] as bigint | undefined) ?? 0n);
  if (seconds === 0 && nanos === 0) return undefined;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${base}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${base}Z`;
}

function mapEntries(
  values: Array<bigint | Buffer>,
  name: string,
  bytesValues: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const e = fields(asBytes(v, name));
    const k = (e.get(1)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
    const val = (e.get(2)?.[0] as Buffer | undefined) ?? Buffer.alloc(0);
    out[k] = bytesValues ? val.toString('base64') : val.toString('utf8');
  }
  return out;
}

function scalar(field: Field, v: bigint | Buffer): unknown {
  switch (field.type) {
    case 'string':
      return asBytes(v, field.name).toString('utf8');
    case 'bytes':
      return asBytes(v, field.name).toString('base64');
    case 'int':
      if (Buffer.isBuffer(v))
        throw errors.badRequest(`protobuf: field ${field.name} has the wrong wire type`);
      return Number(BigInt.asIntN(64, v));
    case 'bool':
      if (Buffer.isBuffer(v))
        throw errors.badRequest(`protobuf: field ${field.name} has the wrong wire type`);
      return v !== 0n;
    case 'time':
    case 'microtime':
      return timestamp(asBytes(v, field.name), field.type === 'microtime');
    default:
      return decodeMessage(asBytes(v, field.name), field.type as Schema);
  }
}

function isZero(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false;
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [num, values] of fields(buf)) {
    const field = schema[num];
    if (!field) continue;
    if (field.type === 'map<string,string>' || field.type === 'map<string,bytes>') {
      out[field.name] = mapEntries(values, field.name, field.type === 'map<string,bytes>');
    } else if (field.repeated) {
      out[field.name] = values.map((v) => scalar(field, v));
    } else {
      const v = scalar(field, values[values.length - 1]!);
      if (!isZero(v) || (field.keepZero && v !== undefined)) out[field.name] = v;
    }
  }
  return out;
}

export function isProtobufType(contentType: string): boolean {
  return contentType.split(';')[0]!.trim().toLowerCase() === PROTOBUF;
}

/** Decodes a protobuf request body into the JSON object the API server would have read. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString('binary') !== 'k8s\0') {
    throw errors.badRequest('protobuf: the body does not start with the Kubernetes "k8s\\0" prefix');
  }
  const envelope = fields(body.subarray(4));
  const typeMeta = fields(asBytes(envelope.get(1)?.[0] ?? Buffer.alloc(0), 'typeMeta'));
  const apiVersion = (typeMeta.get(1)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
  const kind = (typeMeta.get(2)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
  const encoding = (envelope.get(3)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
  if (encoding !== '') throw errors.badRequest(`protobuf: unsupported content encoding "${encoding}"`);
  const schema = KINDS[`${apiVersion}/${kind}`];
  if (!schema) {
    throw new StatusError(
      415,
      'UnsupportedMediaType',
      `the simulator decodes ${PROTOBUF} bodies only for ${Object.keys(KINDS).join(', ')}; got ${apiVersion}/${kind}: send JSON`,
    );
  }
  const raw = envelope.get(2)?.[0] ?? Buffer.alloc(0);
  return { apiVersion, kind, ...decodeMessage(asBytes(raw, 'raw'), schema) };
}
