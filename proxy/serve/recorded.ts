/**
 * Non-resource answers the proxy records online and replays offline as recorded: discovery (legacy
 * and aggregated), /version, and OpenAPI v2/v3 (kubectl explain, apply's schema, client-side
 * validation). One home for which paths these are and how an answer is keyed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { learnDiscovery } from '../gvr.js';
import type { RawAnswer } from '../types.js';

/** Paths whose answers are kept: /api, /apis, /api/v1, /apis/G, /apis/G/V, /version, /openapi/... */
export function isRecordedPath(path: string): boolean {
  return (
    path === '/api' ||
    path === '/apis' ||
    path === '/version' ||
    /^\/api\/v1$/.test(path) ||
    /^\/apis\/[^/]+(\/[^/]+)?$/.test(path) ||
    path === '/openapi/v2' ||
    /^\/openapi\/v3(\/[^?#]+)?$/.test(path)
  );
}

/** Legacy discovery documents (APIGroupList, APIVersions, APIResourceList) and aggregated ones. */
export function isDiscoveryPath(path: string): boolean {
  return (
    path === '/api' || path === '/apis' || /^\/api\/v1$/.test(path) || /^\/apis\/[^/]+(\/[^/]+)?$/.test(path)
  );
}

/**
 * The cache key of an answer: path, query and Accept variant. `timeout` is dropped: it bounds the
 * request, it does not change the answer (kubectl adds its --request-timeout, client-go its own),
 * and a client with another timeout must find what was recorded. `hash` (OpenAPI v3) stays.
 */
export function recordedKey(url: string, accept: string | undefined): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query =
    q === -1
      ? ''
      : url
          .slice(q + 1)
          .split('&')
          .filter((p) => p !== '' && !/^timeout(=|$)/.test(p))
          .join('&');
  return `${query ? `${path}?${query}` : path}\n${accept ?? ''}`;
}

/** The path part of a recordedKey. */
export function recordedPath(key: string): string {
  const end = key.search(/[?\n]/);
  return end === -1 ? key : key.slice(0, end);
}

/**
 * Answers with a recorded answer: same bytes, Content-Type and ETag; 304 when the client already
 * holds that ETag (If-None-Match), as the API server answers discovery and OpenAPI.
 */
export function sendRecorded(req: IncomingMessage, res: ServerResponse, cached: RawAnswer): void {
  const headers: Record<string, string | number> = { 'cache-control': 'no-cache, private' };
  if (cached.etag) headers.etag = cached.etag;
  if (cached.etag && etagMatches(req.headers['if-none-match'], cached.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, {
    ...headers,
    'content-type': cached.contentType,
    'content-length': cached.body.length,
  });
  res.end(cached.body);
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

/**
 * Relearns resource facts (kind, scope, verbs) from the discovery answers kept on disk, so that
 * after an offline restart custom resources are known as they were before it. Returns how many
 * resource facts were read.
 */
export function relearnDiscovery(answers: Iterable<RawAnswer & { key: string }>): number {
  let n = 0;
  for (const a of answers) {
    if (!isDiscoveryPath(recordedPath(a.key)) || !/json/i.test(a.contentType)) continue;
    try {
      n += learnDiscovery(JSON.parse(a.body.toString('utf8')));
    } catch {
      // A recorded answer that is not JSON teaches nothing; it is still served as recorded.
    }
  }
  return n;
}
