/**
 * Discovery documents: the legacy ones (/api, /apis, /api/v1, /apis/G/V, /apis/G) and the
 * aggregated apidiscovery.k8s.io/v2 lists kubectl 1.32 asks /api and /apis for first.
 */
import {
  ALL_VERBS,
  groupsInOrder,
  groupVersion,
  NAMESPACE_VERBS,
  RESOURCES,
  type SimResource,
  STATUS_VERBS,
} from './resources.js';

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

function verbsOf(r: SimResource): string[] {
  return r.resource === 'namespaces' ? NAMESPACE_VERBS : ALL_VERBS;
}

function versionsOf(group: string): string[] {
  const out: string[] = [];
  for (const r of RESOURCES) if (r.group === group && !out.includes(r.version)) out.push(r.version);
  return out;
}

export function apiVersions(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(name: string): Record<string, unknown> {
  const versions = versionsOf(name).map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): unknown {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groupsInOrder()
      .filter((g) => g !== '')
      .map(apiGroup),
  };
}

export function apiGroupDoc(group: string): unknown | undefined {
  if (!groupsInOrder().includes(group) || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) };
}

export function apiResourceList(group: string, version: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const r of rs) {
    const entry: Record<string, unknown> = {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: verbsOf(r),
    };
    if (r.shortNames.length) entry.shortNames = r.shortNames;
    if (r.categories.length) entry.categories = r.categories;
    resources.push(entry);
    for (const sub of r.subresources) {
      resources.push({
        name: `${r.resource}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: STATUS_VERBS,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion({ group, version }),
    resources,
  };
}

function discoveryResource(r: SimResource): Record<string, unknown> {
  const out: Record<string, unknown> = {
    resource: r.resource,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: verbsOf(r),
  };
  if (r.shortNames.length) out.shortNames = r.shortNames;
  if (r.categories.length) out.categories = r.categories;
  if (r.subresources.length) {
    out.subresources = r.subresources.map((s) => ({
      subresource: s,
      responseKind: { group: r.group, version: r.version, kind: r.kind },
      verbs: STATUS_VERBS,
    }));
  }
  return out;
}

/** /api (core === true) or /apis as an APIGroupDiscoveryList of the requested version. */
export function aggregatedDiscovery(core: boolean, apiVersion: 'v2' | 'v2beta1'): unknown {
  const groups = groupsInOrder().filter((g) => (core ? g === '' : g !== ''));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${apiVersion}`,
    metadata: {},
    items: groups.map((g) => ({
      metadata: { name: g, creationTimestamp: null },
      versions: versionsOf(g).map((v) => ({
        version: v,
        resources: RESOURCES.filter((r) => r.group === g && r.version === v).map(discoveryResource),
        freshness: 'Current',
      })),
    })),
  };
}

/**
 * Which representation an Accept header asks for at /api or /apis: the aggregated list when the
 * client lists it (in its order of preference), else the legacy document.
 */
export function negotiateDiscovery(accept: string | undefined): 'v2' | 'v2beta1' | 'legacy' {
  for (const part of (accept ?? '').split(',')) {
    const params = part
      .split(';')
      .map((s) => s.trim().replace(/\s+/g, ''))
      .filter(Boolean);
    if (params[0] !== 'application/json') continue;
    const set = new Set(params.slice(1));
    if (set.has('g=apidiscovery.k8s.io') && set.has('as=APIGroupDiscoveryList')) {
      if (set.has('v=v2')) return 'v2';
      if (set.has('v=v2beta1')) return 'v2beta1';
      continue;
    }
    return 'legacy';
  }
  return 'legacy';
}
