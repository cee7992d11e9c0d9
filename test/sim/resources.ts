/**
 * The resource catalog the simulator serves: what discovery advertises and what the store
 * accepts. Scope, kinds, short names and subresources follow kube-apiserver v1.32.
 */

export interface SimResource {
  group: string; // '' for core
  version: string;
  resource: string; // plural, e.g. 'pods'
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served; 'status' replaces only .status. */
  subresources: string[];
  /** Field selector labels beyond metadata.name / metadata.namespace. */
  fieldLabels: string[];
  /** PUT of a missing object creates it (the registry's AllowCreateOnUpdate). */
  createOnUpdate: boolean;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const NAMESPACE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
export const STATUS_VERBS = ['get', 'patch', 'update'];

const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
];

function res(r: Partial<SimResource> & Pick<SimResource, 'resource' | 'singular' | 'kind'>): SimResource {
  return {
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: [],
    categories: [],
    subresources: [],
    fieldLabels: [],
    createOnUpdate: false,
    ...r,
  };
}

export const RESOURCES: readonly SimResource[] = [
  res({ resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', shortNames: ['cm'] }),
  res({
    resource: 'endpoints',
    singular: 'endpoints',
    kind: 'Endpoints',
    shortNames: ['ep'],
    createOnUpdate: true,
  }),
  res({
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    shortNames: ['ev'],
    fieldLabels: EVENT_FIELDS,
    createOnUpdate: true,
  }),
  res({
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    fieldLabels: ['status.phase'],
  }),
  res({
    resource: 'nodes',
    singular: 'node',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
    fieldLabels: ['spec.unschedulable'],
  }),
  res({
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status'],
    fieldLabels: [
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  }),
  res({ resource: 'secrets', singular: 'secret', kind: 'Secret', fieldLabels: ['type'] }),
  res({
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    shortNames: ['svc'],
    categories: ['all'],
    subresources: ['status'],
    createOnUpdate: true,
  }),
  res({
    group: 'discovery.k8s.io',
    resource: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    fieldLabels: ['addressType'],
  }),
  res({
    group: 'coordination.k8s.io',
    resource: 'leases',
    singular: 'lease',
    kind: 'Lease',
    createOnUpdate: true,
  }),
  res({
    group: 'events.k8s.io',
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    shortNames: ['ev'],
    fieldLabels: [
      'regarding.kind',
      'regarding.namespace',
      'regarding.name',
      'regarding.uid',
      'regarding.apiVersion',
      'regarding.resourceVersion',
      'regarding.fieldPath',
      'reason',
      'reportingController',
      'type',
    ],
    createOnUpdate: true,
  }),
];

export function groupVersion(r: { group: string; version: string }): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The groups in the order discovery lists them (core first). */
export function groupsInOrder(): string[] {
  const out: string[] = [];
  for (const r of RESOURCES) if (!out.includes(r.group)) out.push(r.group);
  return out;
}

/**
 * Finds a resource by group + plural, or loosely by what a test would type: 'pods', 'po', 'Pod',
 * 'leases.coordination.k8s.io', 'events.k8s.io/v1/events' or a {group, resource} object.
 */
export type ResourceRef = string | { group?: string; version?: string; resource: string };

export function lookupResource(group: string, version: string, resource: string): SimResource | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resolveResource(ref: ResourceRef): SimResource {
  if (typeof ref !== 'string') {
    const found = RESOURCES.find(
      (r) =>
        r.resource === ref.resource &&
        r.group === (ref.group ?? '') &&
        (ref.version === undefined || r.version === ref.version),
    );
    if (!found) throw new Error(`simulator: unknown resource ${JSON.stringify(ref)}`);
    return found;
  }
  const parts = ref.split('/');
  if (parts.length === 3) return resolveResource({ group: parts[0], version: parts[1], resource: parts[2]! });
  const dot = ref.indexOf('.');
  const name = dot === -1 ? ref : ref.slice(0, dot);
  const group = dot === -1 ? '' : ref.slice(dot + 1);
  const lower = name.toLowerCase();
  const named = (r: SimResource) =>
    r.resource === lower ||
    r.singular === lower ||
    r.kind.toLowerCase() === lower ||
    r.shortNames.includes(lower);
  // Without a group, core wins (events), else a name only one group has (leases, endpointslices).
  const found =
    RESOURCES.find((r) => r.group === group && named(r)) ??
    (dot === -1 ? RESOURCES.find((r) => named(r)) : undefined);
  if (!found) throw new Error(`simulator: unknown resource "${ref}"`);
  return found;
}
