/**
 * Reads the few Kubernetes protobuf bodies the node's components write while offline. kubelet
 * talks `application/vnd.kubernetes.protobuf` by default (--kube-api-content-type), so its lease
 * renewals and core/v1 event creates arrive in it, and so does kube-proxy's events.k8s.io/v1
 * "Starting" event (its clientConnection.contentType); the policy needs them as JSON objects. Only decoding,
 * only these kinds: the answer goes back as JSON, which client-go decodes by Content-Type.
 *
 * Envelope: magic "k8s\0", then runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
 * 3: contentEncoding, 4: contentType}; `raw` is the object's message. Field numbers are those of
 * k8s.io/api's generated.proto.
 */
import type { KubeObject } from '../types.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

type Scalar = 'string' | 'int' | 'bool' | 'time' | 'microtime' | 'map' | 'bytes';
interface Field {
  name: string;
  type: Scalar | Message;
  repeated?: boolean;
  /** A Go non-pointer int with `omitempty`: gogo writes 0, JSON leaves it out. */
  omitZero?: boolean;
}
type Message = Record<number, Field>;

const ownerReference: Message = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};

const objectMeta: Message = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int', omitZero: true },
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: { name: 'deletionGracePeriodSeconds', type: 'int', omitZero: true },
  11: { name: 'labels', type: 'map' },
  12: { name: 'annotations', type: 'map' },
  13: { name: 'ownerReferences', type: ownerReference, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};

const objectReference: Message = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'namespace', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'fieldPath', type: 'string' },
};

const lease: Message = {
  1: { name: 'metadata', type: objectMeta },
  2: {
    name: 'spec',
    type: {
      1: { name: 'holderIdentity', type: 'string' },
      2: { name: 'leaseDurationSeconds', type: 'int' },
      3: { name: 'acquireTime', type: 'microtime' },
      4: { name: 'renewTime', type: 'microtime' },
      5: { name: 'leaseTransitions', type: 'int' },
      6: { name: 'strategy', type: 'string' },
      7: { name: 'preferredHolder', type: 'string' },
    },
  },
};

const eventSource: Message = {
  1: { name: 'component', type: 'string' },
  2: { name: 'host', type: 'string' },
};

/** The same message in core/v1 and events.k8s.io/v1 (v1.EventSeries / eventsv1.EventSeries). */
const eventSeries: Message = {
  1: { name: 'count', type: 'int' },
  2: { name: 'lastObservedTime', type: 'microtime' },
};

const coreEvent: Message = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'involvedObject', type: objectReference },
  3: { name: 'reason', type: 'string' },
  4: { name: 'message', type: 'string' },
  5: { name: 'source', type: eventSource },
  6: { name: 'firstTimestamp', type: 'time' },
  7: { name: 'lastTimestamp', type: 'time' },
  8: { name: 'count', type: 'int', omitZero: true },
  9: { name: 'type', type: 'string' },
  10: { name: 'eventTime', type: 'microtime' },
  11: { name: 'series', type: eventSeries },
  12: { name: 'action', type: 'string' },
  13: { name: 'related', type: objectReference },
  14: { name: 'reportingComponent', type: 'string' },
  15: { name: 'reportingInstance', type: 'string' },
};

/** k8s.io/api/events/v1: what kube-proxy (and other new-style recorders) send. */
const eventsV1Event: Message = {
  1: { name: 'metadata', type: objectMeta },
  2: { name: 'eventTime', type: 'microtime' },
  3: { name: 'series', type: eventSeries },
  4: { name: 'reportingController', type: 'string' },
  5: { name: 'reportingInstance', type: 'string' },
  6: { name: 'action', type: 'string' },
  7: { name: 'reason', type: 'string' },
  8: { name: 'regarding', type: objectReference },
  9: { name: 'related', type: objectReference },
  10: { name: 'note', type: 'string' },
  11: { name: 'type', type: 'string' },
  12: { name: 'deprecatedSource', type: eventSource },
  13: { name: 'deprecatedFirstTimestamp', type: 'time' },
  14: { name: 'deprecatedLastTimestamp', type: 'time' },
  15: { name: 'deprecatedCount', type: 'int', omitZero: true },
};

const KINDS: Record<string, Message> = {
  'coordination.k8s.io/v1 Lease': lease,
  'v1 Event': coreEvent,
  'events.k8s.io/v1 Event': eventsV1Event,
};

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

export function isKubeProtobuf(body: Buffer): boolean {
  return body.length >= 4 && body.readUInt32BE(0) === 0x6b387300;
}

/** The object in a Kubernetes protobuf body, for the kinds listed above; throws ProtobufError otherwise. */
export function decodeKubeProtobuf(body: Buffer): KubeObject {
  const { typeMeta, raw } = readEnvelope(body);
  const schema = KINDS[`${typeMeta.apiVersion} ${typeMeta.kind}`];
  if (!schema) {
    throw new ProtobufError(
      `protobuf ${typeMeta.apiVersion ?? '?'} ${typeMeta.kind ?? '?'} cannot be decoded offline; send application/json`,
    );
  }
  return objectOf(typeMeta, raw ? readMessage(raw, schema) : {});
}

/**
 * Kind and metadata only, of any kind: every top-level API object keeps its ObjectMeta in field 1
 * (k8s.io/api's generated.proto), so a create's target name can be read without its schema.
 */
export function decodeKubeProtobufMeta(body: Buffer): KubeObject {
  const { typeMeta, raw } = readEnvelope(body);
  return objectOf(typeMeta, raw ? readMessage(raw, { 1: { name: 'metadata', type: objectMeta } }) : {});
}

interface TypeMeta {
  apiVersion?: string;
  kind?: string;
}

function readEnvelope(body: Buffer): { typeMeta: TypeMeta; raw: Buffer | undefined } {
  if (!isKubeProtobuf(body)) {
    throw new ProtobufError('not a Kubernetes protobuf body (missing the "k8s\\0" prefix)');
  }
  const unknown = readMessage(body.subarray(4), {
    1: {
      name: 'typeMeta',
      type: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } },
    },
    2: { name: 'raw', type: 'bytes' },
    3: { name: 'contentEncoding', type: 'string' },
  });
  if (unknown.contentEncoding)
    throw new ProtobufError(`content encoding "${unknown.contentEncoding}" is not supported`);
  return { typeMeta: (unknown.typeMeta ?? {}) as TypeMeta, raw: unknown.raw as Buffer | undefined };
}

function objectOf(typeMeta: TypeMeta, fields: Record<string, unknown>): KubeObject {
  return {
    apiVersion: typeMeta.apiVersion,
    kind: typeMeta.kind,
    metadata: { name: '' },
    ...fields,
  } as KubeObject;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new ProtobufError('varint too long');
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new ProtobufError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new ProtobufError(`unsupported wire type ${wireType}`);
  }
}

function readMessage(buf: Buffer, schema: Message): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const key = Number(r.varint());
    const field = schema[key >> 3];
    const wireType = key & 7;
    if (!field) {
      r.skip(wireType);
      continue;
    }
    const value = readValue(r, field, wireType);
    if (value === undefined) continue;
    if (field.type === 'map') {
      const [k, v] = value as [string, string];
      out[field.name] = { ...((out[field.name] as Record<string, string>) ?? {}), [k]: v };
    } else if (field.repeated) {
      out[field.name] = [...((out[field.name] as unknown[]) ?? []), value];
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

function readValue(r: Reader, field: Field, wireType: number): unknown {
  const t = field.type;
  if (t === 'int' || t === 'bool') {
    if (wireType !== 0) throw new ProtobufError(`${field.name}: expected a varint`);
    const v = r.varint();
    if (t === 'bool') return v !== 0n;
    const n = Number(BigInt.asIntN(64, v));
    return n === 0 && field.omitZero ? undefined : n;
  }
  if (wireType !== 2) throw new ProtobufError(`${field.name}: expected a length-delimited field`);
  const bytes = r.bytes();
  if (t === 'bytes') return bytes;
  if (t === 'string') {
    const s = bytes.toString('utf8');
    // gogo writes every string, set or not; JSON omits the empty ones
    return s === '' && !field.repeated ? undefined : s;
  }
  if (t === 'map') {
    const entry = readMessage(bytes, { 1: { name: 'k', type: 'string' }, 2: { name: 'v', type: 'string' } });
    return [entry.k ?? '', entry.v ?? ''];
  }
  if (t === 'time' || t === 'microtime') {
    const ts = readMessage(bytes, { 1: { name: 's', type: 'int' }, 2: { name: 'n', type: 'int' } });
    const seconds = (ts.s as number | undefined) ?? 0;
    const nanos = (ts.n as number | undefined) ?? 0;
    if (seconds === 0 && nanos === 0) return undefined;
    const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
    return t === 'time' ? `${iso}Z` : `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`;
  }
  return readMessage(bytes, t);
}
