/**
 * A write's body: the object in it (JSON or kubelet's protobuf), and the API server's checks that
 * it is the object the URL names, made before anything is queued or renewed locally.
 */
import { describeResource } from '../request-info.js';
import type { KubeObject, RequestInfo } from '../types.js';
import { conflict } from './answers.js';
import { type WriteOp, WriteRequestError } from './apply-write.js';
import { kindOf } from './classify.js';
import { isObject } from './json-value.js';
import {
  decodeKubeProtobuf,
  decodeKubeProtobufMeta,
  isKubeProtobuf,
  PROTOBUF_CONTENT_TYPE,
} from './protobuf.js';

/**
 * A PUT body must be the object the URL names, as the API server checks before anything else:
 * same kind, same name, and (for a namespaced resource) no other namespace. A body of another
 * kind queued for a node would be replayed as that node's status.
 */
export function checkBodyMatchesUrl(sent: KubeObject, info: RequestInfo): void {
  checkKind(sent, info);
  if (sent.metadata.name !== info.name) {
    throw new WriteRequestError(
      400,
      `the name of the object (${String(sent.metadata.name ?? '')}) does not match the name on the URL (${info.name})`,
      'BadRequest',
    );
  }
  checkNamespace(sent, info);
}

export function checkKind(sent: KubeObject, info: RequestInfo): void {
  const kind = kindOf(info);
  if (sent.kind !== undefined && sent.kind !== kind) {
    throw new WriteRequestError(
      400,
      `the kind of the object (${String(sent.kind)}) does not match the resource on the URL (${describeResource(info)}, kind ${kind})`,
      'BadRequest',
    );
  }
}

/** Like the API server: a namespaced object may omit its namespace but not name another one. */
export function checkNamespace(sent: KubeObject, info: RequestInfo): void {
  const ns = sent.metadata.namespace;
  if (info.namespace && ns && ns !== info.namespace) {
    throw new WriteRequestError(
      400,
      `the namespace of the provided object (${String(ns)}) does not match the namespace sent on the request (${info.namespace})`,
      'BadRequest',
    );
  }
}

/** An update that names a resourceVersion must name the current one, as the API server demands. */
export function checkUpdatePrecondition(op: WriteOp, current: KubeObject, info: RequestInfo): void {
  if (op.type !== 'update') return;
  const sent = op.body as unknown as KubeObject;
  checkBodyMatchesUrl(sent, info);
  const rv = sent.metadata.resourceVersion;
  if (rv && rv !== current.metadata.resourceVersion) throw conflict(info);
}

/** The object in a write's body (JSON or kubelet's protobuf), or undefined when it has none. */
export function parseObject(body: Buffer): KubeObject | undefined {
  try {
    if (isKubeProtobuf(body)) return decodeKubeProtobuf(body);
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return isObject(v as never) && isObject((v as KubeObject).metadata as never)
      ? (v as KubeObject)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The name a create body asks for (JSON or any kind in protobuf); '' for generateName or an unreadable body. */
export function createTargetName(contentType: string | undefined, body: Buffer): string {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  try {
    if (mediaType === PROTOBUF_CONTENT_TYPE) return decodeKubeProtobufMeta(body).metadata.name ?? '';
    if (mediaType !== '' && mediaType !== 'application/json') return '';
    const v = JSON.parse(body.toString('utf8')) as { metadata?: { name?: unknown } } | null;
    return typeof v?.metadata?.name === 'string' ? v.metadata.name : '';
  } catch {
    return '';
  }
}
