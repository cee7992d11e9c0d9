import type { IncomingMessage } from 'node:http';
import type { LogFields } from '../log.js';
import type { Identity, RequestInfo } from '../types.js';

/**
 * One request as the debug access log shows it: what the client asked for (verb, resource,
 * selectors, watch-list or not), in which encoding it talks (Content-Type, Accept), and how the
 * proxy answered. Logged when the head goes out, so open watches appear too. No credentials: the
 * identity is its kind only.
 */
export function accessFields(
  req: IncomingMessage,
  info: RequestInfo,
  identity: Identity,
  code: number,
  servedFrom: string,
): LogFields {
  const resource = info.isResourceRequest
    ? `${info.group ? `${info.group}/` : ''}${info.resource}${info.subresource ? `/${info.subresource}` : ''}`
    : info.path;
  const fields: LogFields = {
    method: req.method ?? '',
    verb: String(info.verb),
    resource,
    code,
    servedFrom,
    identity: identity.kind,
    accept: req.headers.accept ?? '',
    contentType: req.headers['content-type'] ?? '',
    userAgent: req.headers['user-agent'] ?? '',
  };
  if (info.namespace) fields.namespace = info.namespace;
  if (info.name) fields.name = info.name;
  if (info.labelSelector) fields.labelSelector = info.labelSelector;
  if (info.fieldSelector) fields.fieldSelector = info.fieldSelector;
  if (info.resourceVersion) fields.resourceVersion = info.resourceVersion;
  if (info.resourceVersionMatch) fields.resourceVersionMatch = info.resourceVersionMatch;
  if (info.sendInitialEvents) fields.sendInitialEvents = true;
  if (info.limit) fields.limit = info.limit;
  return fields;
}
