import type { Identity, UpstreamPool } from '../types.js';
import { jsonOf, readBody } from '../upstream/answer-body.js';

export interface JsonAnswer {
  status: number;
  body: unknown;
  raw: Buffer;
}

/** One JSON request to the upstream pool, body read whole (objects and Status are small). */
export async function upstreamJson(
  pool: UpstreamPool,
  method: string,
  path: string,
  identity: Identity,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<JsonAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const res = await pool.request({
    method,
    path,
    identity,
    timeoutMs,
    headers: {
      accept: 'application/json',
      ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    },
    ...(payload ? { body: payload } : {}),
  });
  const raw = await readBody(res);
  return { status: res.statusCode ?? 0, body: jsonOf(raw), raw };
}

/** The message of a Status body, or the status code when there is none. */
export function answerMessage(a: JsonAnswer): string {
  const msg = (a.body as { message?: unknown } | undefined)?.message;
  return typeof msg === 'string' ? msg : `HTTP ${a.status}`;
}
