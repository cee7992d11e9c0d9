/**
 * Turns method + URL into what kube-apiserver's RequestInfoFactory would: verb, group, version,
 * resource, subresource, namespace, name (the simulator's own copy, independent of the proxy's).
 */
import { lookupResource, type SimResource } from './resources.js';
import { errors } from './status.js';

export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  isResource: boolean;
  verb: string;
  group: string;
  version: string;
  resourceName: string;
  resource?: SimResource;
  subresource: string;
  namespace: string;
  name: string;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function truthy(v: string | null): boolean {
  return v === '1' || v === 'true';
}

export function parseRequest(method: string, rawUrl: string): SimRequest {
  const url = new URL(rawUrl, 'http://sim');
  const path = url.pathname;
  const base: SimRequest = {
    method,
    path,
    query: url.searchParams,
    isResource: false,
    verb: method.toLowerCase(),
    group: '',
    version: '',
    resourceName: '',
    subresource: '',
    namespace: '',
    name: '',
  };
  const parts = path.split('/').filter((p) => p !== '');
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    base.version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    base.group = parts[1]!;
    base.version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return base;
  }
  base.isResource = true;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length > 1) {
    base.namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  base.resourceName = rest[0] ?? '';
  base.name = rest[1] ?? '';
  base.subresource = rest[2] ?? '';
  if (rest.length > 3 || base.resourceName === '') throw errors.unknownPath();
  base.resource = lookupResource(base.group, base.version, base.resourceName);
  if (base.resource && !base.resource.namespaced && base.resourceName !== 'namespaces') {
    // /api/v1/namespaces/x/nodes is not a path the API server serves.
    if (base.namespace) throw errors.unknownPath();
  }
  if (base.resourceName === 'namespaces') base.namespace = '';
  const watch = legacyWatch || truthy(url.searchParams.get('watch'));
  switch (method) {
    case 'GET':
    case 'HEAD':
      base.verb = watch ? 'watch' : base.name ? 'get' : 'list';
      break;
    case 'POST':
      base.verb = 'create';
      break;
    case 'PUT':
      base.verb = 'update';
      break;
    case 'PATCH':
      base.verb = 'patch';
      break;
    case 'DELETE':
      base.verb = base.name ? 'delete' : 'deletecollection';
      break;
    default:
      base.verb = method.toLowerCase();
  }
  return base;
}
