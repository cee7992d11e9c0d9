import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { reasonForCode, statusObject } from '../status.js';

/** The methods the Kubernetes API takes (HEAD reads like GET); others get 405. */
export const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const ALLOW_HEADER = API_METHODS.join(', ');

/**
 * The HTTP server's `clientError` listener: requests Node's parser refuses before any handler
 * sees them. Node's own answer is a bare 400; here they get a Status like every other answer,
 * and a method the parser does not know is 405 MethodNotAllowed as the API server says.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  let code = 400;
  let message = `bad request: ${err.message}`;
  if (err.code === 'HPE_INVALID_METHOD') {
    code = 405;
    message = `the server does not allow this method on the requested resource (allowed: ${ALLOW_HEADER})`;
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    code = 431;
    message = 'request header fields too large';
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    code = 408;
    message = 'request timed out';
  }
  const body = JSON.stringify(statusObject(code, reasonForCode(code), message));
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      (code === 405 ? `Allow: ${ALLOW_HEADER}\r\n` : '') +
      'Connection: close\r\n\r\n' +
      body,
  );
}
