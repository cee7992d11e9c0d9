/**
 * Reading an API server's answer whole (objects, lists, Status bodies), for the proxy's own
 * upstream requests and the webhook's client alike. Watch streams are read line by line instead
 * (watch/upstream-stream.ts).
 */
import type { IncomingMessage } from 'node:http';

/** The body; rejects past `max` bytes and when the response is torn down before its end. */
export function readBody(res: IncomingMessage, max = Number.POSITIVE_INFINITY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        res.destroy(new Error(`upstream body larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('upstream response closed before its end'));
    });
  });
}

/** The body as JSON; undefined when it is empty or not JSON (a front proxy's error page). */
export function jsonOf(raw: Buffer): unknown {
  try {
    return raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}
