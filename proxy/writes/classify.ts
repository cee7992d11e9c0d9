import type { Gvr, RequestInfo } from '../types.js';

/**
 * Which offline policy a write falls under (design.md "Write policy"). Anything not named here is
 * refused with 503: the node cannot promise what the API server would decide.
 */
export type WriteClass =
  | { kind: 'lease' }
  | { kind: 'status' }
  | { kind: 'event-create' }
  | { kind: 'event-write' }
  | { kind: 'refused' };

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export const LEASE_GVR: Gvr = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };

export function classifyWrite(info: RequestInfo): WriteClass {
  if (!info.isResourceRequest) return { kind: 'refused' };
  const isUpdate = info.verb === 'update' || info.verb === 'patch';
  if (
    info.group === LEASE_GVR.group &&
    info.resource === 'leases' &&
    info.namespace === NODE_LEASE_NAMESPACE &&
    info.subresource === '' &&
    info.name !== '' &&
    isUpdate
  ) {
    return { kind: 'lease' };
  }
  if (
    info.group === '' &&
    info.subresource === 'status' &&
    info.name !== '' &&
    isUpdate &&
    ((info.resource === 'nodes' && info.namespace === '') ||
      (info.resource === 'pods' && info.namespace !== ''))
  ) {
    return { kind: 'status' };
  }
  if (isEventResource(info) && info.subresource === '' && info.namespace !== '') {
    if (info.verb === 'create' && info.name === '') return { kind: 'event-create' };
    if (isUpdate && info.name !== '') return { kind: 'event-write' };
  }
  return { kind: 'refused' };
}

/** The kind of each resource the policy takes offline (what a PUT body must say, if it says one). */
const KIND_OF: Record<string, string> = {
  nodes: 'Node',
  pods: 'Pod',
  events: 'Event',
  leases: 'Lease',
};

export function kindOf(info: { resource: string }): string | undefined {
  return Object.hasOwn(KIND_OF, info.resource) ? KIND_OF[info.resource] : undefined;
}

export function isEventResource(gvr: { group: string; resource: string }): boolean {
  return gvr.resource === 'events' && (gvr.group === '' || gvr.group === 'events.k8s.io');
}

export function gvrOf(info: RequestInfo): Gvr {
  return { group: info.group, version: info.version, resource: info.resource };
}

/** The API path of an object (or of its collection when name is ''), with an optional subresource. */
export function objectPath(gvr: Gvr, namespace: string, name: string, subresource = ''): string {
  const root = gvr.group === '' ? `/api/${gvr.version}` : `/apis/${gvr.group}/${gvr.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const obj = name ? `/${encodeURIComponent(name)}` : '';
  const sub = name && subresource ? `/${subresource}` : '';
  return `${root}${ns}/${gvr.resource}${obj}${sub}`;
}
