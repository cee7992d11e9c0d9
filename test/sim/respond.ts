/** Writing responses: bodies, kube-style Status errors, gzip, and byte counting. */
import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Counters, RequestRecord } from './counters.js';
import { errors, StatusError } from './status.js';

const GZIP_THRESHOLD = 128 * 1024;

export class Responder {
  constructor(
    private readonly counters: Counters,
    private readonly compression: boolean,
  ) {}

  /**
   * Writes a whole response. Like kube-apiserver (APIResponseCompression), bodies of 128 KiB or more
   * are gzipped for clients that accept it; counters see the bytes actually sent.
   */
  send(res: ServerResponse, rec: RequestRecord | undefined, code: number, body: string, type: string): void {
    let data = Buffer.from(body);
    const headers: Record<string, string | number> = {
      'Content-Type': type,
      'Cache-Control': 'no-cache, private',
    };
    const acceptEncoding = String(res.req?.headers['accept-encoding'] ?? '');
    if (this.compression && data.length >= GZIP_THRESHOLD && /\bgzip\b/.test(acceptEncoding)) {
      data = gzipSync(data);
      headers['Content-Encoding'] = 'gzip';
      headers.Vary = 'Accept-Encoding';
    }
    headers['Content-Length'] = data.length;
    res.writeHead(code, headers);
    res.end(data);
    if (rec) {
      rec.status = code;
      this.counters.addBytes(rec, data.length);
    }
  }

  raw(res: ServerResponse, rec: RequestRecord, code: number, json: string, type = 'application/json'): void {
    this.send(res, rec, code, json, type);
  }

  json(
    res: ServerResponse,
    rec: RequestRecord | undefined,
    code: number,
    body: unknown,
    type = 'application/json',
  ): void {
    this.send(res, rec, code, JSON.stringify(body), type);
  }

  text(res: ServerResponse, rec: RequestRecord, code: number, text: string): void {
    this.send(res, rec, code, text, 'text/plain; charset=utf-8');
  }

  error(res: ServerResponse, rec: RequestRecord | undefined, err: unknown): void {
    const e =
      err instanceof StatusError
        ? err
        : err instanceof SyntaxError
          ? errors.badRequest(err.message)
          : new StatusError(
              500,
              'InternalError',
              `Internal error occurred: ${(err as Error)?.message ?? String(err)}`,
            );
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    if (e.code === 413) res.setHeader('Connection', 'close');
    this.json(res, rec, e.code, e.toStatus());
  }
}
