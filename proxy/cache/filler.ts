import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { gvrOf, learnDiscovery } from '../gvr.js';
import type { Logger } from '../log.js';
import { isDiscoveryPath, recordedPath } from '../serve/recorded.js';
import type {
  CacheQueue,
  CacheStoreApi,
  Gvr,
  Identity,
  KubeList,
  KubeObject,
  ListEnvelope,
  RequestInfo,
  ViewKey,
} from '../types.js';
import { type JsonList, peekResourceVersion, splitJsonList } from './json-scan.js';

/** Largest response we tee into the cache; beyond it the view is marked incomplete instead. */
export const MAX_TEE_BYTES = 256 * 1024 * 1024;
/** Unfinished paged lists we remember, and for how long. */
const MAX_PENDING_PAGES = 256;
const PAGE_TTL_MS = 5 * 60_000;
/** How much of an answer's start is kept to find its own resourceVersion. */
const HEAD_BYTES = 4096;

/** A chunked list being stitched: its pages' items are stored as they come, their names kept. */
interface PendingList {
  view: ViewKey;
  envelope: ListEnvelope;
  names: Set<string>;
  expires: number;
  /** The store's generation at the first page: a cache file replaced since lost those pages. */
  generation: number;
}

export function viewOf(info: RequestInfo, identity: Identity): ViewKey {
  return {
    identity: identity.id,
    gvr: gvrOf(info),
    namespace: info.namespace,
    labelSelector: info.labelSelector,
    fieldSelector: info.fieldSelector,
  };
}

/** Collects a response body as it streams, up to MAX_TEE_BYTES. */
export class Tee {
  private chunks: Buffer[] = [];
  private readonly hash: Hash | undefined;
  /** The first bytes (up to HEAD_BYTES) of a plain body, for peekResourceVersion. */
  private head: Buffer[] = [];
  private headSize = 0;
  private readonly peek: boolean;
  size = 0;
  overflow = false;

  /**
   * `fingerprint`: recognise an unchanged answer without parsing it. A plain JSON list or object
   * is known by its resourceVersion, read from the first bytes (a list at one resourceVersion of
   * one scope is one snapshot); a compressed one by a hash of its (small) compressed bytes.
   */
  constructor(opts: { fingerprint?: boolean; encoding?: string | string[] } = {}) {
    const encoding = String(opts.encoding ?? 'identity').toLowerCase();
    const plain = encoding === 'identity' || encoding === '';
    this.peek = opts.fingerprint === true && plain;
    this.hash = opts.fingerprint && !plain ? createHash('sha1') : undefined;
  }

  /** The answer's own metadata.resourceVersion from its first bytes; '' when not plainly there. */
  resourceVersion(): string {
    if (!this.peek || this.overflow) return '';
    if (this.head.length > 1) this.head = [Buffer.concat(this.head)];
    return this.head[0] ? peekResourceVersion(this.head[0]) : '';
  }

  push = (chunk: Buffer): void => {
    if (this.overflow) return;
    this.size += chunk.length;
    if (this.size > MAX_TEE_BYTES) {
      this.overflow = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
    this.hash?.update(chunk);
    if (this.peek && this.headSize < HEAD_BYTES) {
      const part = chunk.subarray(0, HEAD_BYTES - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
    }
  };

  /** '' when the list cannot be recognised (no fingerprint asked, overflow, no resourceVersion seen). */
  fingerprint(): string {
    if (this.overflow) return '';
    if (this.hash) return `sha1:${this.hash.digest('hex')}`;
    const rv = this.resourceVersion();
    return rv ? `rv:${rv}` : '';
  }

  /**
   * The decoded body, or undefined when it overflowed or uses an encoding we do not decode.
   * Consumes the chunks: a 10,000-pod list should not be held twice while it is parsed.
   */
  body(headers: IncomingHttpHeaders): Buffer | undefined {
    if (this.overflow) return undefined;
    const raw = Buffer.concat(this.chunks);
    this.chunks = [];
    const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'identity' || encoding === '') return raw;
    if (encoding === 'gzip') return gunzipSync(raw);
    return undefined;
  }
}

function isJson(headers: IncomingHttpHeaders): boolean {
  return /^application\/json\b/i.test(String(headers['content-type'] ?? ''));
}

/**
 * Turns upstream answers that passed through to a client into cache updates. The bytes are
 * collected as they stream by; parsing and writing happen later in the CacheWriter's queue, so
 * the client's response is never held back by the store.
 */
export class CacheFiller {
  private readonly pending = new Map<string, PendingList>();
  private readonly granted = new LRUCache<string, true>({ max: 10_000 });
  /** Fingerprint of the last whole list applied per view: an unchanged relist costs no parse and no commit. */
  private readonly lastList = new LRUCache<string, string>({ max: 1_000 });

  constructor(
    private readonly store: CacheStoreApi,
    private readonly queue: CacheQueue,
    private readonly logger: Logger,
  ) {}

  /** A GET of one object answered: store it, or forget it when upstream says it is gone. */
  object(
    info: RequestInfo,
    identity: Identity,
    status: number,
    headers: IncomingHttpHeaders,
    tee: Tee,
  ): void {
    if (!isJson(headers) || (status !== 200 && status !== 404)) return;
    const gvr = gvrOf(info);
    // The version the cache already holds (and this identity may read): nothing to learn, nothing
    // queued. kubelet and controllers GET the same unchanged objects all day.
    if (status === 200 && this.alreadyHeld(gvr, identity, info.namespace, info.name, tee.resourceVersion()))
      return;
    this.queue.enqueue(() => {
      const parsed = this.parse<KubeObject>(tee, headers, info);
      if (!parsed) return;
      const { value: obj, text } = parsed;
      if (status === 404) {
        if (obj.kind === 'Status') this.store.deleteObject(gvr, info.namespace, info.name);
        return;
      }
      if (obj.kind !== 'Status' && obj.metadata?.name) this.keep(gvr, identity, obj, text);
    });
  }

  private alreadyHeld(gvr: Gvr, identity: Identity, namespace: string, name: string, rv: string): boolean {
    if (rv === '' || this.store.objectResourceVersion(gvr, namespace, name) !== rv) return false;
    // Held, but maybe read by another identity: this one still needs its own grant.
    return this.granted.has(grantKey(identity, gvr, namespace, name));
  }

  /**
   * Stores an object and records that this identity was allowed to read it (offline GETs). Every
   * identity, the node too, reads offline only what it read itself; grants are remembered so a
   * repeated GET costs no commit.
   */
  private keep(gvr: Gvr, identity: Identity, obj: KubeObject, text?: string): void {
    this.store.upsertObject(gvr, obj, text);
    const key = grantKey(identity, gvr, obj.metadata.namespace ?? '', obj.metadata.name);
    if (this.granted.has(key)) return;
    this.store.grant(identity.id, gvr, obj.metadata.namespace ?? '', obj.metadata.name);
    this.granted.set(key, true);
  }

  /** A write answered with the object it produced (create/update/patch): keep the cache current. */
  written(
    info: RequestInfo,
    identity: Identity,
    status: number,
    headers: IncomingHttpHeaders,
    tee: Tee,
  ): void {
    if (!isJson(headers) || status < 200 || status > 201) return;
    if (info.subresource !== '' && info.subresource !== 'status') return;
    const gvr = gvrOf(info);
    this.queue.enqueue(() => {
      const parsed = this.parse<KubeObject>(tee, headers, info);
      const obj = parsed?.value;
      if (obj && obj.kind !== 'Status' && obj.metadata?.name) this.keep(gvr, identity, obj, parsed.text);
    });
  }

  /**
   * A LIST page answered. A whole list (no continue either way) replaces its view; pages of a
   * chunked list are stitched together by their continue tokens and applied when the last arrives.
   */
  list(info: RequestInfo, identity: Identity, status: number, headers: IncomingHttpHeaders, tee: Tee): void {
    const view = viewOf(info, identity);
    if (tee.overflow) {
      this.queue.enqueue(() => this.store.markViewIncomplete(view), view);
      return;
    }
    if (status !== 200 || !isJson(headers)) return;
    // An exact historical list would move the cache backwards in time.
    if (info.resourceVersionMatch === 'Exact') return;
    // The same bytes as the last list applied for this view, still covered: nothing to learn, and
    // nothing is queued (a busy client relisting an unchanged resource costs no parse, no commit
    // and no memory held in the queue).
    const key = JSON.stringify(view);
    const digest = info.continue === '' ? tee.fingerprint() : '';
    if (digest !== '' && this.lastList.get(key) === digest && this.store.findCoveringView(view)) return;
    this.queue.enqueue(() => {
      const list = this.parseList(tee, headers, info);
      if (!list) return;
      this.applyPage(info, view, list);
      if (digest !== '' && !list.envelope.metadata?.continue) this.lastList.set(key, digest);
    }, view);
  }

  /** Discovery, OpenAPI, /version: kept verbatim per Accept variant; discovery teaches resource facts. */
  raw(key: string, status: number, headers: IncomingHttpHeaders, tee: Tee): void {
    if (status !== 200) return;
    const contentType = String(headers['content-type'] ?? 'application/json');
    const etag = typeof headers.etag === 'string' ? headers.etag : '';
    this.queue.enqueue(() => {
      let body: Buffer | undefined;
      try {
        body = tee.body(headers);
      } catch (err) {
        this.logger.warn('cannot decode discovery answer', { key, error: (err as Error).message });
      }
      if (!body) return;
      this.store.putRaw(key, contentType, body, etag);
      if (isJson(headers) && isDiscoveryPath(recordedPath(key))) {
        try {
          learnDiscovery(JSON.parse(body.toString('utf8')));
        } catch {
          // Not JSON after all: kept verbatim, nothing to learn.
        }
      }
    });
  }

  private applyPage(info: RequestInfo, view: ViewKey, list: JsonList): void {
    const gvr = view.gvr;
    const { envelope } = list;
    const next = envelope.metadata?.continue ?? '';
    const now = Date.now();
    for (const [token, p] of this.pending) if (p.expires < now) this.pending.delete(token);
    if (info.continue === '' && next === '') {
      this.store.applyListItems(view, envelope, list.items());
      return;
    }
    const names = this.store.upsertListPage(gvr, envelope, list.items());
    let acc: PendingList | undefined;
    if (info.continue === '') {
      acc = { view, envelope, names, expires: now + PAGE_TTL_MS, generation: this.store.generation };
    } else {
      acc = this.pending.get(info.continue);
      this.pending.delete(info.continue);
      // A page whose first pages we did not see (or forgot, or lost with a damaged cache file)
      // cannot complete a view.
      if (!acc || acc.generation !== this.store.generation) return;
      for (const n of names) acc.names.add(n);
    }
    if (next !== '') {
      if (this.pending.size >= MAX_PENDING_PAGES) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      acc.expires = now + PAGE_TTL_MS;
      this.pending.set(next, acc);
      return;
    }
    // The list's resourceVersion is the first page's: the snapshot every page was read from.
    this.store.completeView(acc.view, acc.envelope, acc.names);
  }

  private parse<T>(
    tee: Tee,
    headers: IncomingHttpHeaders,
    info: RequestInfo,
  ): { value: T; text: string } | undefined {
    try {
      const text = tee.body(headers)?.toString('utf8');
      return text === undefined ? undefined : { value: JSON.parse(text) as T, text };
    } catch (err) {
      this.unreadable('cannot parse upstream answer for the cache', info, err);
      return undefined;
    }
  }

  private unreadable(msg: string, info: RequestInfo, err: unknown): void {
    this.logger.warn(msg, { path: info.path, error: (err as Error).message });
  }

  /** A list read item by item when it has the usual shape; parsed whole (and judged) otherwise. */
  private parseList(tee: Tee, headers: IncomingHttpHeaders, info: RequestInfo): JsonList | undefined {
    let body: Buffer | undefined;
    try {
      body = tee.body(headers);
    } catch (err) {
      this.unreadable('cannot decode upstream list for the cache', info, err);
      return undefined;
    }
    if (!body) return undefined;
    const split = splitJsonList(body);
    if (split) return split;
    try {
      const list = JSON.parse(body.toString('utf8')) as KubeList;
      if (!list || !Array.isArray(list.items)) return undefined;
      const { items, ...envelope } = list;
      return { envelope, count: items.length, items: () => items.map((object) => ({ object })) };
    } catch (err) {
      this.unreadable('cannot parse upstream answer for the cache', info, err);
      return undefined;
    }
  }
}

function grantKey(identity: Identity, gvr: Gvr, namespace: string, name: string): string {
  return `${identity.id}\n${gvr.group}/${gvr.resource}\n${namespace}/${name}`;
}
