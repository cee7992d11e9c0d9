/**
 * Kubernetes `Status` objects: every error the proxy answers itself has the shape clients
 * (client-go, kubectl, client-node) decode into a typed API error, with the HTTP code repeated in
 * the body as the API server does.
 */
import type { ServerResponse } from 'node:http';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/** The API server's reason for a code when the caller has no more specific one. */
export function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 406:
      return 'NotAcceptable';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 413:
      return 'RequestEntityTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return code >= 500 ? 'InternalError' : code >= 400 ? 'BadRequest' : '';
  }
}

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): StatusObject {
  const status: StatusObject = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code >= 200 && code < 300 ? 'Success' : 'Failure',
    message,
    reason: reason || reasonForCode(code),
    code,
  };
  if (details) status.details = details;
  return status;
}

/** Writes a Status as the whole response (no-op on the body if headers were already sent). */
export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): void {
  const body = Buffer.from(JSON.stringify(statusObject(code, reason, message, details)));
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache, private',
  };
  if (details?.retryAfterSeconds !== undefined) headers['Retry-After'] = details.retryAfterSeconds;
  res.writeHead(code, headers);
  res.end(body);
}
