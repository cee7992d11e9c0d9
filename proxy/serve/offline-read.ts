/**
 * Answers GET and LIST from the store while the cloud is unreachable, with the API server's
 * semantics where the store can honour them and an honest Status where it cannot:
 *
 * - GET: the stored object; 404 when the store does not hold it; 503 when it holds it but this
 *   identity never read it upstream (offline answers never widen anyone's access). The node is
 *   no exception: it reads offline only what it read itself, never what a token client fetched.
 * - LIST: only from a complete view of this identity that covers the request (namespace and
 *   selectors), filtered locally; never an empty list unless the view is complete and truly
 *   empty (kubelet must not conclude its pods are gone); limit/continue with an opaque,
 *   validated token; metadata.resourceVersion is the version the view is complete at (a watch
 *   from it misses nothing), never the resource's newest, which other scopes may have moved past
 *   changes this one has not seen.
 * - Table output is refused with 406 here (the server prints Tables from these answers, see
 *   proxy/table/); metadata-only output (PartialObjectMetadata[List]) is built from the stored objects.
 */
import { apiVersionOf, resourceFacts } from '../gvr.js';
import { compareRv, isLocalResourceVersion, upstreamBaseOf } from '../resource-version.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../selectors.js';
import { type StatusDetails, statusObject } from '../status.js';
import type { CacheStoreApi, Gvr, Identity, KubeObject, RequestInfo } from '../types.js';

export interface ReadResult {
  status: number;
  /** JSON text of the answer (object, list or Status). */
  body: string;
}

export interface OfflineReadOptions {
  /** The request's Accept header, to honour or refuse `as=Table` / `as=PartialObjectMetadata*`. */
  accept?: string;
}

interface ContinueToken {
  v: 1;
  rv: string;
  /** [namespace, name] of the last item already returned. */
  after: [string, string];
}

export function offlineGet(
  store: CacheStoreApi,
  info: RequestInfo,
  identity: Identity,
  opts: OfflineReadOptions = {},
): ReadResult {
  const gvr = gvrOf(info);
  const what = resourceLabel(info);
  if (info.subresource) {
    return status(
      503,
      'ServiceUnavailable',
      `node is offline: ${what} subresource "${info.subresource}" is not cached`,
    );
  }
  if (!info.name) return status(400, 'BadRequest', 'offline GET needs an object name');
  const form = outputForm(opts.accept);
  if (form === 'table') return notAcceptable();

  const text = store.getBodyText(gvr, info.namespace, info.name);
  const obj = text === undefined ? undefined : (JSON.parse(text) as KubeObject);
  if (!obj) {
    return status(404, 'NotFound', `${what} "${info.name}" not found`, {
      name: info.name,
      group: info.group,
      kind: info.resource,
    });
  }
  if (!store.mayRead(identity.id, gvr, obj)) {
    return status(
      503,
      'ServiceUnavailable',
      `node is offline and ${what} "${info.name}" was never read by this client; try again when the node is online`,
      { retryAfterSeconds: 10 },
    );
  }
  if (form === 'metadata') return { status: 200, body: JSON.stringify(partialObject(obj)) };
  const complete = obj.kind && obj.apiVersion ? obj : withKind(obj, gvr);
  return { status: 200, body: complete === obj && text !== undefined ? text : JSON.stringify(complete) };
}

export function offlineList(
  store: CacheStoreApi,
  info: RequestInfo,
  identity: Identity,
  opts: OfflineReadOptions = {},
): ReadResult {
  const gvr = gvrOf(info);
  const what = resourceLabel(info);
  const form = outputForm(opts.accept);
  if (form === 'table') return notAcceptable();
  try {
    parseLabelSelector(info.labelSelector);
    parseFieldSelector(info.fieldSelector, gvr);
  } catch (err) {
    if (err instanceof SelectorError) return status(400, 'BadRequest', err.message);
    throw err;
  }

  const view = store.findCoveringView({
    identity: identity.id,
    gvr,
    namespace: info.namespace,
    labelSelector: info.labelSelector,
    fieldSelector: info.fieldSelector,
  });
  if (!view) {
    const scope = [
      info.namespace ? `namespace "${info.namespace}"` : 'all namespaces',
      info.labelSelector ? `labelSelector "${info.labelSelector}"` : '',
      info.fieldSelector ? `fieldSelector "${info.fieldSelector}"` : '',
    ]
      .filter(Boolean)
      .join(', ');
    return status(
      503,
      'ServiceUnavailable',
      `node is offline and no complete cached list for ${what} (${scope}) is held for this client`,
      { retryAfterSeconds: 10 },
    );
  }

  // Items may be newer than this (a GET, another key's events): a watch from it sends their
  // changes again (an older version first, for a moment). A newer version would skip changes the
  // view never saw, for good.
  const held = view.listResourceVersion;
  let after: [string, string] | undefined;
  let listRv = held;
  if (info.continue) {
    if (info.resourceVersion) {
      return status(400, 'BadRequest', 'specifying resource version is not allowed when using continue');
    }
    const token = decodeContinue(info.continue);
    if (!token) return status(400, 'BadRequest', 'continue key is not valid');
    after = token.after;
    listRv = token.rv;
  } else if (info.resourceVersion && info.resourceVersion !== '0') {
    // A node-made version ("4711-islet-3") stands for the upstream version it was based on.
    const asked = isLocalResourceVersion(info.resourceVersion)
      ? upstreamBaseOf(info.resourceVersion)
      : info.resourceVersion;
    const c = compareRv(asked, held);
    if (info.resourceVersionMatch === 'Exact' && c !== 0) {
      return c === 1
        ? tooLarge(info.resourceVersion, held)
        : status(
            410,
            'Expired',
            `node is offline: the cache holds resourceVersion ${held}, not ${info.resourceVersion}`,
          );
    }
    if (c === 1) return tooLarge(info.resourceVersion, held);
  }

  const entries = store.listEntries(gvr, info.namespace, info.labelSelector, info.fieldSelector);
  let start = 0;
  if (after) {
    const from = entries.findIndex((e) => compareKeys([e.namespace, e.name], after!) > 0);
    start = from === -1 ? entries.length : from;
  }
  let page = start === 0 ? entries : entries.slice(start);

  const metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number } = {
    resourceVersion: listRv,
  };
  if (info.limit > 0 && page.length > info.limit) {
    const rest = page.length - info.limit;
    page = page.slice(0, info.limit);
    const last = page[page.length - 1]!;
    metadata.continue = encodeContinue({ v: 1, rv: listRv, after: [last.namespace, last.name] });
    // The API server counts the rest only when no selector filters it.
    if (!info.labelSelector && !info.fieldSelector) metadata.remainingItemCount = rest;
  }
  const texts = page.map((e) => e.text);

  if (form === 'metadata') {
    const items = texts.map((t) => partialObject(JSON.parse(t) as KubeObject));
    return {
      status: 200,
      body: JSON.stringify({
        kind: 'PartialObjectMetadataList',
        apiVersion: 'meta.k8s.io/v1',
        metadata,
        items,
      }),
    };
  }
  const facts = resourceFacts(gvr);
  const kind = view.listKind || facts?.listKind || 'List';
  const apiVersion = view.listApiVersion || apiVersionOf(gvr);
  const head = JSON.stringify({ kind, apiVersion, metadata });
  // Stored texts are joined as they are: no parse/serialise of every item on the offline path.
  return { status: 200, body: `${head.slice(0, -1)},"items":[${texts.join(',')}]}` };
}

function gvrOf(info: RequestInfo): Gvr {
  return { group: info.group, version: info.version, resource: info.resource };
}

function resourceLabel(info: RequestInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

function status(code: number, reason: string, message: string, details?: StatusDetails): ReadResult {
  return { status: code, body: JSON.stringify(statusObject(code, reason, message, details)) };
}

function notAcceptable(): ReadResult {
  return status(
    406,
    'NotAcceptable',
    'node is offline: Table output is not served from the cache; ask for application/json',
  );
}

function tooLarge(asked: string, held: string): ReadResult {
  return status(504, 'Timeout', `Too large resource version: ${asked}, current: ${held}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/**
 * The first alternative of the Accept header the cache can produce: plain JSON, or metadata-only
 * (built from stored objects). Tables cannot be built offline; kubectl lists `application/json`
 * after its Table types, so it gets plain JSON and prints it client-side. 'table' (→ 406) only
 * when nothing else is acceptable.
 */
function outputForm(accept: string | undefined): 'object' | 'table' | 'metadata' {
  if (!accept || accept.trim() === '') return 'object';
  let table = false;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((p) => p.trim());
    if (params.some((p) => /^q=0(\.0*)?$/.test(p))) continue;
    const as = params.find((p) => p.startsWith('as='))?.slice(3);
    const jsonish = /^(application\/json|application\/\*|\*\/\*)$/i.test(type);
    if (!jsonish) continue;
    if (as === undefined) return 'object';
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return 'metadata';
    if (as === 'Table') table = true;
  }
  return table ? 'table' : 'object';
}

function partialObject(obj: KubeObject): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

function withKind(obj: KubeObject, gvr: Gvr): KubeObject {
  const kind = obj.kind ?? resourceFacts(gvr)?.kind;
  return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(gvr), ...(kind ? { kind } : {}) };
}

/** The API server lists in etcd key order: "namespace/name" as bytes. */
function compareKeys(a: [string, string], b: [string, string]): number {
  const x = `${a[0]}/${a[1]}`;
  const y = `${b[0]}/${b[1]}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(s: string): ContinueToken | undefined {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s)) return undefined;
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (
      t?.v !== 1 ||
      typeof t.rv !== 'string' ||
      !Array.isArray(t.after) ||
      t.after.length !== 2 ||
      typeof t.after[0] !== 'string' ||
      typeof t.after[1] !== 'string' ||
      t.after[1] === ''
    ) {
      return undefined;
    }
    return t as ContinueToken;
  } catch {
    return undefined;
  }
}
