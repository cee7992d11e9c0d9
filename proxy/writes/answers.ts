/**
 * The Status answers of the offline write policy, worded as the API server words them where it
 * has a word for the case, and one refusal for everything the node cannot take while offline.
 */
import type { ServerResponse } from 'node:http';
import { groupResource } from '../gvr.js';
import type { Logger } from '../log.js';
import { describeResource } from '../request-info.js';
import { sendStatus } from '../status.js';
import type { RequestInfo } from '../types.js';
import { WriteRequestError } from './apply-write.js';
import { PatchError } from './json-value.js';
import { QueueFullError } from './queue.js';

/** The one answer for a write the node cannot take while offline. */
export function refuse(res: ServerResponse, info: RequestInfo, why = ''): void {
  const what = info.isResourceRequest
    ? `${info.verb} ${describeResource(info)}`
    : `${info.verb} ${info.path}`;
  sendStatus(
    res,
    503,
    'ServiceUnavailable',
    `node is offline (link to the API server is down): ${what} is not accepted locally${why}`,
    detailsOf(info),
  );
}

/** The answer for what a write step threw: its own Status, a refusal, or 500 for a fault of ours. */
export function answerError(res: ServerResponse, info: RequestInfo, err: unknown, log?: Logger): void {
  if (err instanceof WriteRequestError) {
    if (err.code === 503) refuse(res, info, ` (${err.message})`);
    else sendStatus(res, err.code, err.reason, err.message, detailsOf(info));
    return;
  }
  if (err instanceof PatchError) {
    sendStatus(res, err.code, err.code === 409 ? 'Conflict' : '', err.message, detailsOf(info));
    return;
  }
  if (err instanceof QueueFullError) {
    refuse(res, info, `: ${err.message}`);
    return;
  }
  log?.error('offline write failed', { error: err, path: info.path, verb: info.verb });
  sendStatus(res, 500, 'InternalError', `offline write failed: ${(err as Error).message}`);
}

export function detailsOf(info: RequestInfo): { name?: string; group?: string; kind?: string } | undefined {
  if (!info.isResourceRequest) return undefined;
  return { ...(info.name ? { name: info.name } : {}), group: info.group, kind: info.resource };
}

export function notFound(info: RequestInfo): WriteRequestError {
  return new WriteRequestError(404, `${groupResource(info)} "${info.name}" not found`, 'NotFound');
}

export function conflict(info: RequestInfo): WriteRequestError {
  return new WriteRequestError(
    409,
    `Operation cannot be fulfilled on ${groupResource(info)} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`,
    'Conflict',
  );
}

export function alreadyExists(info: RequestInfo, name: string): WriteRequestError {
  return new WriteRequestError(409, `${describeResource(info)} "${name}" already exists`, 'AlreadyExists');
}

/** Offline, an answer carrying an object goes only to an identity that read it (design.md §Proxy cache). */
export function neverRead(info: RequestInfo, name: string): WriteRequestError {
  return new WriteRequestError(503, `${describeResource(info)} "${name}" was never read by this client`);
}

export function sendJson(res: ServerResponse, code: number, obj: unknown): void {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
