/**
 * Talking to the upstream API server for the hub: opening a watch, reading its newline-delimited
 * JSON events, and listing a collection page by page (only for the one relist after a 410).
 */
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Identity, KubeList, KubeObject, Scope, UpstreamPool, WatchEvent } from '../types.js';
import { readBody } from '../upstream/answer-body.js';
import { parseRetryAfter } from './backoff.js';

const gunzipAsync = promisify(gunzip);

/** /api/v1/pods, /apis/discovery.k8s.io/v1/namespaces/x/endpointslices, ... */
export function collectionPath(scope: Scope): string {
  const { group, version, resource } = scope.gvr;
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const ns = scope.namespace ? `/namespaces/${encodeURIComponent(scope.namespace)}` : '';
  return `${prefix}${ns}/${resource}`;
}

/** An upstream answer that is not the stream or list we asked for. */
export interface UpstreamRefusal {
  code: number;
  retryAfterMs: number | undefined;
  body: Buffer;
  contentType: string;
}

export type WatchOpen = { ok: true; res: IncomingMessage } | { ok: false; refusal: UpstreamRefusal };

export interface WatchOpenOptions {
  resourceVersion: string;
  timeoutSeconds: number;
  identity: Identity;
  signal: AbortSignal;
}

/** Opens an upstream watch with bookmarks. Transport failures reject (UpstreamUnavailableError...). */
export async function openUpstreamWatch(
  pool: UpstreamPool,
  scope: Scope,
  o: WatchOpenOptions,
): Promise<WatchOpen> {
  const q = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true' });
  if (o.resourceVersion) q.set('resourceVersion', o.resourceVersion);
  q.set('timeoutSeconds', String(o.timeoutSeconds));
  if (scope.labelSelector) q.set('labelSelector', scope.labelSelector);
  if (scope.fieldSelector) q.set('fieldSelector', scope.fieldSelector);
  const res = await pool.request({
    method: 'GET',
    path: `${collectionPath(scope)}?${q}`,
    headers: { accept: 'application/json' },
    identity: o.identity,
    signal: o.signal,
    timeoutMs: 15_000,
  });
  if (res.statusCode === 200) return { ok: true, res };
  return { ok: false, refusal: await refusalOf(res) };
}

/**
 * Reads watch events until the stream ends. Resolves on a clean end, rejects when the stream
 * breaks. Each event comes with its line as received so fan-out never re-serializes it.
 */
export function readWatchEvents(
  res: IncomingMessage,
  onEvent: (ev: WatchEvent, line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let failed = false;
    res.setEncoding('utf8');
    const handleLine = (raw: string): void => {
      const line = raw.trim();
      if (!line) return;
      let ev: WatchEvent;
      try {
        ev = JSON.parse(line) as WatchEvent;
      } catch {
        throw new Error(`upstream sent an undecodable watch event: ${line.slice(0, 200)}`);
      }
      if (!ev || typeof ev.type !== 'string' || !ev.object || typeof ev.object !== 'object') {
        throw new Error(`upstream sent a malformed watch event: ${line.slice(0, 200)}`);
      }
      onEvent(ev, line);
    };
    res.on('data', (chunk: string) => {
      if (failed) return;
      pending += chunk;
      let nl = pending.indexOf('\n');
      try {
        while (nl !== -1) {
          handleLine(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          nl = pending.indexOf('\n');
        }
      } catch (err) {
        failed = true;
        res.destroy();
        reject(err);
      }
    });
    res.on('end', () => {
      if (failed) return;
      try {
        handleLine(pending);
        resolve();
      } catch (err) {
        reject(err);
      }
    });
    res.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
    res.on('close', () => {
      // A stream torn down before 'end' (aborted, reset) is a break, not a clean close.
      if (!failed && !res.complete) {
        failed = true;
        reject(new Error('upstream watch stream closed before its end'));
      }
    });
  });
}

export type ListResult =
  | { ok: true; list: KubeList; bytes: number }
  | { ok: false; refusal: UpstreamRefusal };

/**
 * A consistent LIST of the scope, for the relist after a 410: one request, not pages, so a
 * relist costs the API server exactly one LIST (continue tokens are still followed should a
 * server paginate on its own).
 */
export async function listUpstream(
  pool: UpstreamPool,
  scope: Scope,
  identity: Identity,
  signal: AbortSignal,
): Promise<ListResult> {
  const items: KubeObject[] = [];
  let cont = '';
  let bytes = 0;
  let first: KubeList | undefined;
  for (;;) {
    const q = new URLSearchParams();
    if (cont) q.set('continue', cont);
    if (scope.labelSelector) q.set('labelSelector', scope.labelSelector);
    if (scope.fieldSelector) q.set('fieldSelector', scope.fieldSelector);
    const res = await pool.request({
      method: 'GET',
      path: q.size ? `${collectionPath(scope)}?${q}` : collectionPath(scope),
      // A relist is the one big answer the hub asks for: compressed, it costs the WAN a tenth.
      headers: { accept: 'application/json', 'accept-encoding': 'gzip' },
      identity,
      signal,
      timeoutMs: 30_000,
    });
    if (res.statusCode !== 200) return { ok: false, refusal: await refusalOf(res) };
    const raw = await readBody(res, 512 * 1024 * 1024);
    bytes += raw.length;
    const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
    const body = encoding === 'gzip' ? await gunzipAsync(raw, { maxOutputLength: 1024 * 1024 * 1024 }) : raw;
    const page = JSON.parse(body.toString('utf8')) as KubeList;
    if (!page || !Array.isArray(page.items))
      throw new Error(`upstream LIST of ${collectionPath(scope)} is not a list`);
    first ??= page;
    // A loop, not push(...items): a page of a large unpaged list has more items than a call takes arguments.
    for (const item of page.items) items.push(item);
    cont = page.metadata?.continue ?? '';
    if (!cont) {
      // The list's version is the first page's: continue tokens keep reading that snapshot.
      const list: KubeList = {
        apiVersion: first.apiVersion,
        kind: first.kind,
        metadata: { resourceVersion: first.metadata?.resourceVersion ?? '' },
        items,
      };
      return { ok: true, list, bytes };
    }
  }
}

async function refusalOf(res: IncomingMessage): Promise<UpstreamRefusal> {
  const body = await readBody(res, 1024 * 1024).catch(() => Buffer.alloc(0));
  return {
    code: res.statusCode ?? 502,
    retryAfterMs: parseRetryAfter(res.headers['retry-after']),
    body,
    contentType: String(res.headers['content-type'] ?? 'application/json'),
  };
}
