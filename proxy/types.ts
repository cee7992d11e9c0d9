/**
 * The seams between the proxy's parts. Each part owns its module; these shapes are what they
 * hand each other, so a change here is a change of contract: update every side and design.md.
 *
 *   server (listeners, routing)  ──► request-info ──► RequestInfo
 *        │ online: UpstreamPool (passthrough, cache-filling GET/LIST)
 *        │ watch:  WatchHub (shared upstream watches, event log, offline watch)
 *        │ offline reads: serve/offline-read ◄── CacheStore
 *        │ cache filling: cache/filler ──► CacheQueue ──► CacheStore
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

/** A list without its items: what a view records of it. */
export type ListEnvelope = Omit<KubeList, 'items'>;

/** One list item: the object and, when the caller has it, its exact JSON text (stored as is). */
export interface ListItem {
  object: KubeObject;
  text?: string;
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

/** Where an upgraded connection (exec/attach/port-forward) goes, with the identity's TLS material. */
export interface UpgradeTarget {
  url: string;
  target: {
    protocol: string;
    host: string;
    hostname: string;
    port: number;
    path: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
  };
  secure: boolean;
  /** host, and authorization as the identity sends it upstream. */
  headers: Record<string, string>;
}

/** Upgrades are relayed by hand (proxy/serve/upgrade.ts), to the server the pool picks. */
export interface UpgradeTargets {
  upgradeTarget(identity: Identity): UpgradeTarget;
}

export class UpstreamUnavailableError extends Error {
  override name = 'UpstreamUnavailableError';
}

/**
 * A view: what one identity listed — (identity, gvr, namespace, selectors) — with the list's
 * resourceVersion and whether the store holds all of it. Offline LISTs are answered only from a
 * complete view that covers the request.
 */
export interface ViewKey extends Scope {
  identity: string; // Identity.id
}

/** What a list or watch covers: a resource in a namespace ('' = all / cluster-scoped), selected. */
export interface Scope {
  gvr: Gvr;
  namespace: string;
  labelSelector: string;
  fieldSelector: string;
}

/**
 * What a watch stream vouches for with each event it hands the store: every change of `view`'s
 * scope after `since` has been applied, up to and including this event.
 */
export interface StreamCoverage {
  view: ViewKey;
  since: string;
}

export interface ViewState extends ViewKey {
  complete: boolean;
  listResourceVersion: string;
  /** e.g. {apiVersion: 'v1', kind: 'PodList'} as upstream answered. */
  listKind: string;
  listApiVersion: string;
  updatedAt: number;
}

/** Where a paged read of the store resumes: after this object. */
export interface StoreCursor {
  namespace: string;
  name: string;
}

/** An upstream answer kept verbatim: its Content-Type, decoded body and ETag ('' when none). */
export interface RawAnswer {
  contentType: string;
  body: Buffer;
  etag: string;
}

/** One stored object in a listing: where it is, and its JSON text as stored. */
export interface StoredEntry {
  namespace: string;
  name: string;
  text: string;
}

/**
 * The durable object cache (owned by proxy/cache/store.ts). Each object is stored once per
 * (gvr, namespace, name) whatever the views that hold it.
 */
export interface CacheStoreApi {
  getObject(gvr: Gvr, namespace: string, name: string): KubeObject | undefined;
  /** The stored JSON text of an object (what offline GET sends), without a parse. */
  getBodyText(gvr: Gvr, namespace: string, name: string): string | undefined;
  /** The resourceVersion held for an object, without reading its body; undefined when not held. */
  objectResourceVersion(gvr: Gvr, namespace: string, name: string): string | undefined;
  /** `text`, when given, is the exact JSON of `obj` (upstream's bytes): stored without a re-serialise. */
  upsertObject(gvr: Gvr, obj: KubeObject, text?: string): void;
  deleteObject(gvr: Gvr, namespace: string, name: string, resourceVersion?: string): void;
  /**
   * ADDED/MODIFIED upsert, DELETED removes, BOOKMARK advances the gvr's resourceVersion. With
   * `coverage`, in the same transaction, the view the event's stream covers moves up to the
   * event's version if it was complete at a version since which the stream delivered everything.
   */
  applyWatchEvent(gvr: Gvr, ev: WatchEvent, coverage?: StreamCoverage): void;
  /**
   * A complete upstream LIST for a view: upserts its items, removes objects in the view's scope that
   * the list no longer has, marks the view complete at list.metadata.resourceVersion. One transaction.
   */
  applyList(view: ViewKey, list: KubeList): void;
  /** applyList for items handed over one at a time (a large list parsed item by item). */
  applyListItems(view: ViewKey, envelope: ListEnvelope, items: Iterable<ListItem>): void;
  /** The items of one page of a chunked list; returns their "namespace/name" keys for completeView. */
  upsertListPage(gvr: Gvr, envelope: ListEnvelope, items: Iterable<ListItem>): Set<string>;
  /** Completes a view from a list whose items are stored already (the pages of a chunked list). */
  completeView(view: ViewKey, envelope: ListEnvelope, names: ReadonlySet<string>): void;
  /**
   * Bumped each time a damaged file is replaced by an empty one: what a caller stored before
   * (e.g. the first pages of a chunked list) is gone.
   */
  readonly generation: number;
  markViewIncomplete(view: ViewKey): void;
  /** A complete view of this identity whose scope covers the request, if any. */
  findCoveringView(view: ViewKey): ViewState | undefined;
  /** Objects of a gvr in a namespace ('' = all) that match the selectors, in "namespace/name" order. */
  listObjects(gvr: Gvr, namespace: string, labelSelector: string, fieldSelector: string): KubeObject[];
  /** The same objects as stored JSON texts with their (namespace, name), for offline LIST pages. */
  listEntries(gvr: Gvr, namespace: string, labelSelector: string, fieldSelector: string): StoredEntry[];
  /** One page of the scope's objects as stored JSON texts, after a cursor (see CacheStore). */
  listTextsPage(
    scope: Scope,
    after: StoreCursor | undefined,
    limit: number,
  ): { texts: string[]; next: StoreCursor | undefined };
  /** "namespace/name" and resourceVersion of the scope's objects, without bodies. */
  scopeVersions(scope: Scope): { name: string; rv: string }[];
  /** Newest resourceVersion the store holds for the gvr ('' if none). */
  resourceVersion(gvr: Gvr): string;
  /** Non-resource answers kept verbatim (discovery, OpenAPI, /version): key is path + Accept variant. */
  putRaw(key: string, contentType: string, body: Buffer, etag?: string): void;
  getRaw(key: string): RawAnswer | undefined;
  /** Marks every view of the gvr incomplete (a dropped watch event may have touched any of them). */
  markGvrIncomplete(gvr: Gvr): void;
  /**
   * Deletions of the gvr with a resourceVersion newer than `resourceVersion`, oldest first. Only
   * trustworthy from historyFloor(gvr) on: older deletions may have been pruned or never seen.
   */
  tombstonesSince(gvr: Gvr, resourceVersion: string): Tombstone[];
  /** Objects of the gvr whose resourceVersion is newer than `resourceVersion`, oldest first. */
  objectsNewerThan(gvr: Gvr, resourceVersion: string): KubeObject[];
  /**
   * The oldest resourceVersion from which objectsNewerThan + tombstonesSince reconstruct every
   * change the store saw for the gvr ('' = cannot reconstruct: no complete list yet or events lost).
   */
  historyFloor(gvr: Gvr): string;
  /** Records that an identity read this object upstream, so it may read it offline too. */
  grant(identity: string, gvr: Gvr, namespace: string, name: string): void;
  /** Whether the identity may read the object offline: a grant, or one of its views holds it. */
  mayRead(identity: string, gvr: Gvr, obj: KubeObject): boolean;
  close(): void;
}

/** A deleted object remembered so watchers resuming from an older resourceVersion see DELETED. */
export interface Tombstone {
  namespace: string;
  name: string;
  uid: string;
  /** The deletion's resourceVersion (for objects gone from a relist: the list's). */
  resourceVersion: string;
  /** The last state known, with metadata.resourceVersion set to the deletion's. */
  object: KubeObject;
}

/** Where the cache filler queues its store writes (proxy/cache/writer.ts), off the request path. */
export interface CacheQueue {
  /** Never blocks; when full the scope (a view, or a whole resource) is marked incomplete. */
  enqueue(fn: () => void, scope?: ViewKey | Gvr): void;
}

/** Shared upstream watches and local watchers (owned by proxy/watch/). */
export interface WatchHubApi {
  /** Serves a WATCH request from the event log (online and offline); ends the response itself. */
  serve(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    info: RequestInfo,
    identity: Identity,
  ): void;
  /** A change the node itself made while offline (e.g. a queued status write): store + watchers. */
  emitLocal(gvr: Gvr, ev: WatchEvent): void;
  close(): Promise<void>;
}

/** The offline write policy (owned by proxy/writes/). */
export interface WritePolicyApi {
  /**
   * Answers a write while offline: lease renew locally (while kubelet is alive), node/pod status and
   * Events queued durably with a truthful local result, 503 Status for everything else.
   */
  handleOffline(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    info: RequestInfo,
    identity: Identity,
    body: Buffer,
  ): Promise<void>;
  /** Sees online writes pass by (e.g. kubelet's lease renewals prove it is alive). */
  observeOnline(info: RequestInfo, identity: Identity, body: Buffer, statusCode: number): void;
  /**
   * Called before an online write is passed through; true = it answered the request itself (a
   * lease update carrying a locally-bumped resourceVersion is re-applied to the upstream lease,
   * so it does not fail with 409). A write to an object with queued writes waits for their replay.
   */
  handleOnline?(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    info: RequestInfo,
    identity: Identity,
    body: Buffer,
  ): Promise<boolean>;
  /** Replays the queue upstream in order after reconnect. */
  replay(): Promise<void>;
  close(): void;
}
