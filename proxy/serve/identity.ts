import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Identity } from '../types.js';

/**
 * Who a local request acts as upstream. No Authorization header: the node (kubelet over loopback,
 * our client certificate). A bearer token (or any Authorization): that token, keyed by its sha256
 * so the cache separates identities without ever storing the secret itself.
 */
export function identityOf(req: IncomingMessage): Identity {
  const authorization = req.headers.authorization;
  if (!authorization) return { kind: 'node', id: 'node' };
  const id = `token:${createHash('sha256').update(authorization).digest('hex')}`;
  return { kind: 'token', id, authorization };
}
