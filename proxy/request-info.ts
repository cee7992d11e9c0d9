/**
 * Parses a request the way the API server's RequestInfoFactory does, so routing, caching and
 * the write policy agree with what the upstream will make of the same request:
 *
 *   /api/v1/...            core group      /apis/GROUP/VERSION/...   named groups
 *   .../namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]]     namespaced
 *   .../RESOURCE[/NAME[/SUBRESOURCE]]                   cluster-scoped or all namespaces
 *   .../namespaces/NS[/status|/finalize]                the namespace object itself
 *   .../watch/...  .../proxy/...                        legacy verb prefixes
 *
 * A GET without a name is a list, or a watch when `watch` is true; a DELETE without a name is a
 * deletecollection. Everything else (/api, /apis, /version, /healthz, /openapi/...) is a
 * non-resource request whose verb is the lower-case method.
 */
import { groupResource } from './gvr.js';
import { isLocalResourceVersion, isNumericRv } from './resource-version.js';
import type { RequestInfo, Verb } from './types.js';

export class RequestInfoError extends Error {
  override name = 'RequestInfoError';
  /** HTTP status the server answers with. */
  readonly code = 400;
}

const specialVerbs = new Set(['proxy', 'watch']);
/** Verbs whose third path part is not a subresource (proxy/.../NAME/rest-of-path). */
const specialVerbsNoSubresources = new Set(['proxy']);
/** Parts after namespaces/NS that address the namespace itself, not a resource inside it. */
const namespaceSubresources = new Set(['status', 'finalize']);

const methodVerbs: Record<string, Verb> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

export function parseRequestInfo(method: string, rawUrl: string): RequestInfo {
  // A request line may carry an absolute URI (RFC 9112 §3.2.2); only its path and query count.
  const url = /^https?:\/\//i.test(rawUrl) ? rawUrl.replace(/^https?:\/\/[^/?#]*/i, '') || '/' : rawUrl;
  const q = url.indexOf('?');
  const rawPath = stripFragment(q === -1 ? url : url.slice(0, q));
  const rawQuery = q === -1 ? '' : stripFragment(url.slice(q + 1));
  const path = rawPath;
  const query = parseQuery(rawQuery);

  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    group: '',
    version: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
    labelSelector: '',
    fieldSelector: '',
    resourceVersion: '',
    resourceVersionMatch: '',
    limit: 0,
    continue: '',
    allowWatchBookmarks: false,
  };
  readListOptions(query, info);

  if (!rawPath.startsWith('/'))
    throw new RequestInfoError(`request path must start with "/": ${truncate(rawPath)}`);
  const parts = splitPath(rawPath);
  // Reading the raw segments first: a %2F inside a name must not create a new path level.
  const prefix = parts[0];
  if (parts.length < 3 || (prefix !== 'api' && prefix !== 'apis')) return info;
  let rest = parts.slice(1);
  if (prefix === 'apis') {
    if (rest.length < 3) return info; // /apis/GROUP/VERSION is discovery
    info.group = rest[0]!;
    rest = rest.slice(1);
  }
  info.isResourceRequest = true;
  info.apiPrefix = prefix;
  info.version = rest[0]!;
  rest = rest.slice(1);
  if (prefix === 'apis') checkSegment(info.group, 'group', path);
  checkSegment(info.version, 'version', path);

  if (specialVerbs.has(rest[0]!)) {
    if (rest.length < 2)
      throw new RequestInfoError(`unable to determine kind and namespace from url ${truncate(path)}`);
    info.verb = rest[0] as Verb;
    rest = rest.slice(1);
  } else {
    info.verb = methodVerbs[method.toUpperCase()] ?? '';
  }

  if (rest[0] === 'namespaces') {
    if (rest.length > 1) {
      info.namespace = rest[1]!;
      checkSegment(info.namespace, 'namespace', path);
      if (rest.length > 2 && !namespaceSubresources.has(rest[2]!)) rest = rest.slice(2);
    }
  }

  const verbTakesSubresource = !specialVerbsNoSubresources.has(info.verb);
  if (rest.length >= 3 && verbTakesSubresource) info.subresource = rest[2]!;
  if (rest.length >= 2) info.name = rest[1]!;
  info.resource = rest[0]!;
  checkSegment(info.resource, 'resource', path);
  if (rest.length >= 2) checkSegment(info.name, 'name', path);
  if (info.subresource) checkSegment(info.subresource, 'subresource', path);

  if (info.name === '' && info.verb === 'get') {
    info.verb = boolParam(query, 'watch') ? 'watch' : 'list';
    // The API server names a list/watch by its metadata.name field selector (RBAC uses it);
    // the verb stays list/watch, so routers must decide on the verb, not on the name.
    const byName = exactFieldValue(info.fieldSelector, 'metadata.name');
    if (byName !== undefined && isValidPathSegmentName(byName)) info.name = byName;
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/** How messages name what a request is about: "pods", "deployments.apps", "nodes/status". */
export function describeResource(info: RequestInfo): string {
  const resource = groupResource(info);
  return info.subresource ? `${resource}/${info.subresource}` : resource;
}

function readListOptions(query: Map<string, string>, info: RequestInfo): void {
  info.labelSelector = query.get('labelSelector') ?? '';
  info.fieldSelector = query.get('fieldSelector') ?? '';
  info.resourceVersion = query.get('resourceVersion') ?? '';
  info.resourceVersionMatch = query.get('resourceVersionMatch') ?? '';
  if (!['', 'Exact', 'NotOlderThan'].includes(info.resourceVersionMatch)) {
    throw new RequestInfoError(
      `resourceVersionMatch: Unsupported value: "${info.resourceVersionMatch}": supported values: "Exact", "NotOlderThan"`,
    );
  }
  info.continue = query.get('continue') ?? '';
  const limit = query.get('limit');
  if (limit !== undefined && limit !== '') info.limit = nonNegativeInt(limit, 'limit');
  const timeout = query.get('timeoutSeconds');
  if (timeout !== undefined && timeout !== '')
    info.timeoutSeconds = nonNegativeInt(timeout, 'timeoutSeconds');
  info.allowWatchBookmarks = boolParam(query, 'allowWatchBookmarks');
  if (query.has('sendInitialEvents')) info.sendInitialEvents = boolParam(query, 'sendInitialEvents');
}

function nonNegativeInt(v: string, name: string): number {
  if (!/^\d+$/.test(v))
    throw new RequestInfoError(`${name} must be a non-negative integer, got "${truncate(v)}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RequestInfoError(`${name} is out of range: ${truncate(v)}`);
  return n;
}

/** Query booleans as the API server converts them: present and not 0/f/false means true. */
function boolParam(query: Map<string, string>, name: string): boolean {
  const v = query.get(name);
  if (v === undefined) return false;
  const l = v.toLowerCase();
  return !(l === '0' || l === 'f' || l === 'false');
}

/** First value per key, like Go's url.Values.Get; bad escapes are errors, not silently dropped. */
function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!raw) return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = decodeQueryPart(eq === -1 ? pair : pair.slice(0, eq));
    const v = eq === -1 ? '' : decodeQueryPart(pair.slice(eq + 1));
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new RequestInfoError(`invalid percent-encoding in query: ${truncate(s)}`);
  }
}

/** Splits like the API server (trim leading/trailing "/") and decodes each segment. */
function splitPath(rawPath: string): string[] {
  const trimmed = rawPath.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  return trimmed.split('/').map((seg) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw new RequestInfoError(`invalid percent-encoding in path: ${truncate(rawPath)}`);
    }
    // Upstream would resolve dot segments differently from us: never guess which object is meant.
    if (decoded === '.' || decoded === '..')
      throw new RequestInfoError(`dot segment in path: ${truncate(rawPath)}`);
    return decoded;
  });
}

function checkSegment(seg: string, what: string, path: string): void {
  if (seg === '') throw new RequestInfoError(`empty ${what} in path ${truncate(path)}`);
  if (!isValidPathSegmentName(seg)) {
    throw new RequestInfoError(
      `${what} "${truncate(seg)}" may not be "." or ".." and may not contain "/" or "%"`,
    );
  }
}

/** path.IsValidPathSegmentName of the API server. */
function isValidPathSegmentName(s: string): boolean {
  return s !== '.' && s !== '..' && !s.includes('/') && !s.includes('%');
}

/** The value of a `field=value` / `field==value` term when the selector requires exactly that. */
function exactFieldValue(selector: string, field: string): string | undefined {
  if (!selector) return undefined;
  for (const term of selector.split(',')) {
    const m = /^\s*([^!=\s]+)\s*==?(.*)$/.exec(term);
    if (m && m[1] === field && !m[2]!.includes('\\')) return m[2]!;
  }
  return undefined;
}

function stripFragment(s: string): string {
  const h = s.indexOf('#');
  return h === -1 ? s : s.slice(0, h);
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/**
 * What the API server refuses (400) in a LIST's or WATCH's resourceVersion options beyond their
 * syntax; undefined when they are fine. For the answers the proxy gives itself (offline lists,
 * watches): online, upstream judges lists.
 */
export function listOptionsError(info: RequestInfo): string | undefined {
  const rv = info.resourceVersion;
  // The proxy's own offline versions ("4711-islet-3") are valid where it answers itself.
  if (rv !== '' && !isNumericRv(rv) && !isLocalResourceVersion(rv))
    return `resourceVersion: Invalid value: "${truncate(rv)}": must be a non-negative integer`;
  if (info.verb !== 'list' || info.resourceVersionMatch === '') return undefined;
  if (rv === '')
    return 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided';
  if (info.continue !== '')
    return 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided';
  if (info.resourceVersionMatch === 'Exact' && rv === '0')
    return 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"';
  return undefined;
}
