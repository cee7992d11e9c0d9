import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import type { CacheStore } from '../cache/store.js';
import { learnDiscovery } from '../gvr.js';
import type { Logger } from '../log.js';
import type { Gvr, Identity, KubeList, KubeObject, RequestInfo, ViewKey } from '../types.js';

/**
 * Turns upstream answers that passed through to a client into cache updates. The bytes are
 * collected as they stream by; parsing and writing happen later in the CacheWriter's queue, so
 * the client's response is never held back by the store.
 */
export interface CacheQueue {
  /** Never blocks; when full the scope (a view, or a whole resource) is marked incomplete. */
  enqueue(fn: () => void, scope?: ViewKey | Gvr): void;
}

/** Largest response we tee into the cache; beyond it the view is marked incomplete instead. */
export const MAX_TEE_BYTES = 256 * 1024 * 1024;
/** Unfinished paged lists we remember, and for how long. */
const MAX_PENDING_PAGES = 256;
const PAGE_TTL_MS = 5 * 60_000;

interface PendingList {
  view: ViewKey;
  apiVersion: string;
  kind: string;
  resourceVersion: string;
  items: KubeObject[];
  expires: number;
}

export function gvrOf(info: RequestInfo): Gvr {
  return { group: info.group, version: info.version, resource: info.resource };
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
  private head = '';
  private readonly peek: boolean;
  size = 0;
  overflow = false;

  /**
   * `fingerprint`: recognise an unchanged list without parsing it. A plain JSON list is known by
   * its resourceVersion, read from the first bytes (a list at one resourceVersion of one scope is
   * one snapshot); a compressed one by a hash of its (small) compressed bytes.
   */
  constructor(opts: { fingerprint?: boolean; encoding?: string | string[] } = {}) {
    const encoding = String(opts.encoding ?? 'identity').toLowerCase();
    const plain = encoding === 'identity' || encoding === '';
    this.peek = opts.fingerprint === true && plain;
    this.hash = opts.fingerprint && !plain ? createHash('sha1') : undefined;
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
    if (this.peek && this.head.length < 4096) this.head += chunk.subarray(0, 4096).toString('latin1');
  };

  /** '' when the list cannot be recognised (no fingerprint asked, overflow, no resourceVersion seen). */
  fingerprint(): string {
    if (this.overflow) return '';
    if (this.hash) return `sha1:${this.hash.digest('hex')}`;
    if (!this.peek) return '';
    // The list's own metadata comes before its items (API server field order); never take an
    // item's resourceVersion for the list's.
    const m = /"metadata":\{([^{}]*)\}/.exec(this.head);
    if (!m || this.head.slice(0, m.index).includes('"items"')) return '';
    const rv = /"resourceVersion":"([^"]+)"/.exec(m[1]!)?.[1];
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

export class CacheFiller {
  private readonly pending = new Map<string, PendingList>();
  private readonly granted = new LRUCache<string, true>({ max: 10_000 });
  /** Fingerprint of the last whole list applied per view: an unchanged relist costs no parse and no commit. */
  private readonly lastList = new LRUCache<string, string>({ max: 1_000 });

  constructor(
    private readonly store: CacheStore,
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
    this.queue.enqueue(() => {
      const obj = this.parse<KubeObject>(tee, headers, info);
      if (!obj) return;
      if (status === 404) {
        if (obj.kind === 'Status') this.store.deleteObject(gvr, info.namespace, info.name);
        return;
      }
      if (obj.kind !== 'Status' && obj.metadata?.name) this.keep(gvr, identity, obj);
    });
  }

  /**
   * Stores an object and records that this identity was allowed to read it (offline GETs). The
   * node reads everything it cached; token grants are remembered so a repeated GET costs no commit.
   */
  private keep(gvr: Gvr, identity: Identity, obj: KubeObject): void {
    this.store.upsertObject(gvr, obj);
    if (identity.kind === 'node') return;
    const key = `${identity.id}\n${gvr.group}/${gvr.resource}\n${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
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
      const obj = this.parse<KubeObject>(tee, headers, info);
      if (obj && obj.kind !== 'Status' && obj.metadata?.name) this.keep(gvr, identity, obj);
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
      const list = this.parse<KubeList>(tee, headers, info);
      if (!list || !Array.isArray(list.items)) return;
      this.applyPage(info, view, list);
      if (digest !== '' && !list.metadata?.continue) this.lastList.set(key, digest);
    }, view);
  }

  /** Discovery and /version: kept verbatim per Accept variant; APIResourceLists teach resource facts. */
  raw(key: string, status: number, headers: IncomingHttpHeaders, tee: Tee): void {
    if (status !== 200) return;
    const contentType = String(headers['content-type'] ?? 'application/json');
    this.queue.enqueue(() => {
      let body: Buffer | undefined;
      try {
        body = tee.body(headers);
      } catch (err) {
        this.logger.warn('cannot decode discovery answer', { key, error: (err as Error).message });
      }
      if (!body) return;
      this.store.putRaw(key, contentType, body);
      if (isJson(headers)) {
        try {
          learnDiscovery(JSON.parse(body.toString('utf8')));
        } catch {
          // Not JSON after all: kept verbatim, nothing to learn.
        }
      }
    });
  }

  private applyPage(info: RequestInfo, view: ViewKey, list: KubeList): void {
    const gvr = view.gvr;
    const next = list.metadata?.continue ?? '';
    const now = Date.now();
    for (const [token, p] of this.pending) if (p.expires < now) this.pending.delete(token);
    if (info.continue === '' && next === '') {
      this.store.applyList(view, list);
      return;
    }
    for (const item of list.items) this.store.upsertObject(gvr, item);
    let acc: PendingList | undefined;
    if (info.continue === '') {
      acc = {
        view,
        apiVersion: list.apiVersion,
        kind: list.kind,
        resourceVersion: list.metadata?.resourceVersion ?? '',
        items: [],
        expires: now + PAGE_TTL_MS,
      };
    } else {
      acc = this.pending.get(info.continue);
      this.pending.delete(info.continue);
      // A page whose first pages we did not see (or forgot) cannot complete a view.
      if (!acc) return;
    }
    acc.items.push(...list.items);
    if (next !== '') {
      if (this.pending.size >= MAX_PENDING_PAGES) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      acc.expires = now + PAGE_TTL_MS;
      this.pending.set(next, acc);
      return;
    }
    this.store.applyList(acc.view, {
      apiVersion: acc.apiVersion,
      kind: acc.kind,
      metadata: { resourceVersion: acc.resourceVersion },
      items: acc.items,
    });
  }

  private parse<T>(tee: Tee, headers: IncomingHttpHeaders, info: RequestInfo): T | undefined {
    try {
      const text = tee.body(headers)?.toString('utf8');
      return text === undefined ? undefined : (JSON.parse(text) as T);
    } catch (err) {
      this.logger.warn('cannot parse upstream answer for the cache', {
        path: info.path,
        error: (err as Error).message,
      });
      return undefined;
    }
  }
}
