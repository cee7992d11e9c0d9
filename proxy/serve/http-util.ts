import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isHopByHop } from '../hop-by-hop.js';

/** Upstream response headers as they go to the client. */
export function responseHeadersForClient(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isHopByHop(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Streams an upstream response to the client untouched; `onChunk` sees every chunk as it passes
 * (the tee into the cache) without holding the stream back. `stream` flushes the head at once
 * (watches, followed logs). Resolves when the client got it all
 * (true) or went away / the upstream broke off (false).
 */
export function relayResponse(
  upstream: IncomingMessage,
  res: ServerResponse,
  onChunk?: (chunk: Buffer) => void,
  opts: { stream?: boolean } = {},
): Promise<boolean> {
  res.writeHead(upstream.statusCode ?? 502, responseHeadersForClient(upstream.headers));
  // Streams (watches, followed logs) must show their head at once; for ordinary answers the
  // head goes out with the first chunk (one write instead of two).
  if (opts.stream && upstream.headers['content-length'] === undefined) res.flushHeaders();
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      if (!ok) {
        upstream.destroy();
        res.destroy();
      }
      resolve(ok);
    };
    upstream.on('data', (chunk: Buffer) => {
      onChunk?.(chunk);
      if (!res.write(chunk)) {
        upstream.pause();
        res.once('drain', () => upstream.resume());
      }
    });
    upstream.once('end', () => {
      res.end(() => finish(true));
    });
    upstream.once('error', () => finish(false));
    upstream.once('close', () => {
      if (!upstream.complete) finish(false);
    });
    res.once('close', () => finish(res.writableFinished));
  });
}
