import type { KubeObject } from '../types.js';
import { applyJsonPatch } from './json-patch.js';
import { clone, isObject, type Json, type JsonObject, PatchError } from './json-value.js';
import { applyMergePatch } from './merge-patch.js';
import { decodeKubeProtobuf, PROTOBUF_CONTENT_TYPE, ProtobufError } from './protobuf.js';
import { applyStrategicMergePatch } from './strategic-merge.js';

/**
 * One client write as the queue keeps it: an update (PUT body) or a patch of a known type. The
 * queue keeps the sequence, not a diff, so replay can re-apply it to whatever upstream holds then.
 */
export type WriteOpType = 'update' | 'json-patch' | 'merge-patch' | 'strategic-merge-patch';

export interface WriteOp {
  type: WriteOpType;
  body: Json;
}

/** status: a /status subresource write (only .status changes); object: the whole object. */
export type WriteScope = 'status' | 'object';

const PATCH_TYPES: Record<string, WriteOpType> = {
  'application/json-patch+json': 'json-patch',
  'application/merge-patch+json': 'merge-patch',
  'application/strategic-merge-patch+json': 'strategic-merge-patch',
};

/** Turns a request body into an op; throws WriteRequestError for what cannot be applied locally. */
export function opFromRequest(verb: string, contentType: string | undefined, body: Buffer): WriteOp {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (verb === 'patch') {
    if (mediaType === 'application/apply-patch+yaml') {
      throw new WriteRequestError(503, 'server-side apply', 'ServiceUnavailable');
    }
    const type = PATCH_TYPES[mediaType];
    if (!type) {
      throw new WriteRequestError(
        415,
        `patch content type "${mediaType}" is not supported (use json-patch, merge-patch or strategic-merge-patch)`,
      );
    }
    return { type, body: parseJson(body) };
  }
  if (mediaType === PROTOBUF_CONTENT_TYPE) {
    try {
      return { type: 'update', body: decodeKubeProtobuf(body) as unknown as Json };
    } catch (err) {
      if (err instanceof ProtobufError) throw new WriteRequestError(415, err.message);
      throw err;
    }
  }
  if (mediaType !== '' && mediaType !== 'application/json') {
    throw new WriteRequestError(
      415,
      `content type "${mediaType}" cannot be decoded offline; send application/json`,
    );
  }
  const parsed = parseJson(body);
  if (!isObject(parsed) || !isObject(parsed.metadata)) {
    throw new WriteRequestError(400, 'the request body must be a JSON object with metadata');
  }
  return { type: 'update', body: parsed };
}

/** A request the policy answers with an error Status (`message` is complete unless code is 503). */
export class WriteRequestError extends Error {
  override name = 'WriteRequestError';
  constructor(
    readonly code: number,
    message: string,
    readonly reason = '',
  ) {
    super(message);
  }
}

function parseJson(body: Buffer): Json {
  try {
    return JSON.parse(body.toString('utf8')) as Json;
  } catch (err) {
    throw new WriteRequestError(400, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Applies one op to `base` the way the API server would for the scope: a status write changes only
 * .status; no write changes identity (name, namespace, uid, creationTimestamp) or the version,
 * which the caller assigns. A uid in the write that differs from the object's fails like the
 * server's precondition check (409).
 */
export function applyOp(base: KubeObject, op: WriteOp, scope: WriteScope): KubeObject {
  const original = base as unknown as JsonObject;
  let patched: Json;
  switch (op.type) {
    case 'update':
      patched = op.body;
      break;
    case 'json-patch':
      patched = applyJsonPatch(original, op.body);
      break;
    case 'merge-patch':
      patched = applyMergePatch(original, op.body);
      break;
    case 'strategic-merge-patch':
      patched = applyStrategicMergePatch(original, op.body);
      break;
  }
  if (!isObject(patched)) throw new PatchError('the write does not leave an object behind');
  const wantedUid = isObject(patched.metadata) ? patched.metadata.uid : undefined;
  if (typeof wantedUid === 'string' && base.metadata.uid && wantedUid !== base.metadata.uid) {
    throw new PatchError(
      `Precondition failed: UID in precondition: ${wantedUid}, UID in object meta: ${base.metadata.uid}`,
      409,
    );
  }
  const result: KubeObject =
    scope === 'status' ? statusOnly(base, patched) : (clone(patched) as unknown as KubeObject);
  result.apiVersion = base.apiVersion ?? result.apiVersion;
  result.kind = base.kind ?? result.kind;
  const meta = isObject(result.metadata) ? result.metadata : {};
  result.metadata = { ...meta, name: base.metadata.name } as KubeObject['metadata'];
  const meta2 = result.metadata as Record<string, unknown>;
  for (const k of ['namespace', 'uid', 'creationTimestamp', 'resourceVersion', 'generation']) {
    if (base.metadata[k] === undefined) delete meta2[k];
    else meta2[k] = base.metadata[k];
  }
  return result;
}

export function applyOps(base: KubeObject, ops: readonly WriteOp[], scope: WriteScope): KubeObject {
  return ops.reduce((obj, op) => applyOp(obj, op, scope), base);
}

function statusOnly(base: KubeObject, patched: JsonObject): KubeObject {
  const result = clone(base);
  if (patched.status === undefined) delete result.status;
  else result.status = clone(patched.status);
  return result;
}
