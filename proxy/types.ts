/**
 * The seams between the proxy's parts. Each part owns its module; these shapes are what they
 * hand each other, so a change here is a change of contract: update every side and design.md.
 *
 *   server (listeners, routing)  ──► request-info ──► RequestInfo
 *        │ online: UpstreamPool (passthrough, cache-filling GET/LIST)
 *        │ watch:  WatchHub (shared upstream watches, event log, offline watch)
 *        │ offline reads: cache/offline-read ◄── CacheStore
 *        └ offline writes: WritePolicy (lease, queued status/events, 503 for the rest)
 */
import type { IncomingMessage } from 'node:http';

export type Verb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  | 'proxy'
  | 'connect';

/** What the API server's RequestInfoFactory would make of a request. */
export interface RequestInfo {
  /** true for /api/v1/... and /apis/G/V/... resource paths; false for discovery, /version, /healthz... */
  isResourceRequest: boolean;
  /** Path without the query string, as received. */
  path: string;
  /** For non-resource requests: the lower-case HTTP method ('get', 'post', ...). */
  verb: Verb | string;
  /** 'api' (core) or 'apis' (named groups); '' for non-resource requests. */
  apiPrefix: 'api' | 'apis' | '';
  group: string; // '' for core
  version: string;
  resource: string;
  subresource: string; // 'status', 'log', 'exec', ... or ''
  namespace: string; // '' for cluster-scoped or all-namespaces requests
  name: string;
  labelSelector: string;
  fieldSelector: string;
  resourceVersion: string;
  resourceVersionMatch: string;
  /** 0 when absent. */
  limit: number;
  continue: string;
  timeoutSeconds?: number;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
}

/** group/version/resource, the unit the cache and the watch log are organised by. */
export interface Gvr {
  group: string;
  version: string;
  resource: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface KubeList {
  apiVersion: string;
  kind: string; // e.g. PodList
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

/**
 * Who a request acts as upstream. kubelet over loopback HTTP sends no credentials and acts as the
 * node (our client certificate); a pod with a service-account token keeps its token. Views in
 * the cache are per identity so one identity's RBAC never leaks to another offline.
 */
export type Identity =
  | { kind: 'node'; id: 'node' }
  | { kind: 'token'; id: string /* sha256 of the token, never the token */; authorization: string };

/** A request to an upstream API server, issued by the pool against the server it picks. */
export interface UpstreamRequest {
  method: string;
  /** Path plus query, e.g. /api/v1/pods?watch=1&resourceVersion=12 */
  path: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: Buffer;
  identity: Identity;
  /** Aborts the request (and its response stream). */
  signal?: AbortSignal;
  /** Connect+first-byte timeout; streaming responses are not cut by it. */
  timeoutMs?: number;
}

export interface UpstreamPool {
  /**
   * Sends the request to the chosen upstream; on a transport failure (connect refused, reset,
   * timeout before the response head) marks that upstream and tries the next healthy one.
   * Rejects with UpstreamUnavailableError when none answers. HTTP error statuses resolve.
   */
  request(req: UpstreamRequest): Promise<IncomingMessage>;
  /** The link as the health monitor judges it (with hysteresis). */
  isOnline(): boolean;
  /** Called on every online/offline transition. Returns an unsubscribe function. */
  onLinkChange(cb: (online: boolean) => void): () => void;
}

export class UpstreamUnavailableError extends Error {
  override name = 'UpstreamUnavailableError';
}
