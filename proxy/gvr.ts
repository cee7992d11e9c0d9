/**
 * What the proxy knows about resources: kind, list kind, whether namespaced. Common resources are
 * built in so an offline reboot can answer before any discovery was fetched; others are learned
 * from discovery documents (APIResourceList) as they pass by.
 */
import type { Gvr, RequestInfo } from './types.js';

export interface ResourceFacts {
  kind: string;
  listKind: string;
  namespaced: boolean;
  /** As discovery lists them; absent for built-in facts. */
  verbs?: string[];
}

const builtIn: [string, string, string, string, boolean][] = [
  // group, version, resource, kind, namespaced
  ['', 'v1', 'pods', 'Pod', true],
  ['', 'v1', 'nodes', 'Node', false],
  ['', 'v1', 'namespaces', 'Namespace', false],
  ['', 'v1', 'services', 'Service', true],
  ['', 'v1', 'endpoints', 'Endpoints', true],
  ['', 'v1', 'configmaps', 'ConfigMap', true],
  ['', 'v1', 'secrets', 'Secret', true],
  ['', 'v1', 'serviceaccounts', 'ServiceAccount', true],
  ['', 'v1', 'events', 'Event', true],
  ['', 'v1', 'persistentvolumes', 'PersistentVolume', false],
  ['', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true],
  ['', 'v1', 'replicationcontrollers', 'ReplicationController', true],
  ['', 'v1', 'limitranges', 'LimitRange', true],
  ['', 'v1', 'resourcequotas', 'ResourceQuota', true],
  ['discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true],
  ['coordination.k8s.io', 'v1', 'leases', 'Lease', true],
  ['events.k8s.io', 'v1', 'events', 'Event', true],
  ['apps', 'v1', 'deployments', 'Deployment', true],
  ['apps', 'v1', 'daemonsets', 'DaemonSet', true],
  ['apps', 'v1', 'statefulsets', 'StatefulSet', true],
  ['apps', 'v1', 'replicasets', 'ReplicaSet', true],
  ['batch', 'v1', 'jobs', 'Job', true],
  ['batch', 'v1', 'cronjobs', 'CronJob', true],
  ['networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true],
  ['networking.k8s.io', 'v1', 'ingresses', 'Ingress', true],
  ['networking.k8s.io', 'v1', 'ingressclasses', 'IngressClass', false],
  ['node.k8s.io', 'v1', 'runtimeclasses', 'RuntimeClass', false],
  ['storage.k8s.io', 'v1', 'csidrivers', 'CSIDriver', false],
  ['storage.k8s.io', 'v1', 'csinodes', 'CSINode', false],
  ['storage.k8s.io', 'v1', 'storageclasses', 'StorageClass', false],
  ['storage.k8s.io', 'v1', 'volumeattachments', 'VolumeAttachment', false],
  ['rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true],
  ['rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true],
  ['rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false],
  ['rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false],
  ['apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false],
  ['scheduling.k8s.io', 'v1', 'priorityclasses', 'PriorityClass', false],
  // kubelet deletes its node's slices at start (DRA): named in metrics, not "other".
  ['resource.k8s.io', 'v1', 'resourceslices', 'ResourceSlice', false],
  ['policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true],
  ['certificates.k8s.io', 'v1', 'certificatesigningrequests', 'CertificateSigningRequest', false],
  ['flowcontrol.apiserver.k8s.io', 'v1', 'flowschemas', 'FlowSchema', false],
  ['flowcontrol.apiserver.k8s.io', 'v1', 'prioritylevelconfigurations', 'PriorityLevelConfiguration', false],
];

const facts = new Map<string, ResourceFacts>();
for (const [g, v, r, kind, namespaced] of builtIn)
  facts.set(key({ group: g, version: v, resource: r }), { kind, listKind: `${kind}List`, namespaced });

function key(gvr: Gvr): string {
  return `${gvr.group}/${gvr.version}/${gvr.resource}`;
}

/** "v1" for the core group, "GROUP/VERSION" otherwise. */
export function apiVersionOf(gvr: Pick<Gvr, 'group' | 'version'>): string {
  return gvr.group ? `${gvr.group}/${gvr.version}` : gvr.version;
}

/** The group/version/resource a request is about. */
export function gvrOf(info: Pick<RequestInfo, 'group' | 'version' | 'resource'>): Gvr {
  return { group: info.group, version: info.version, resource: info.resource };
}

/** How the API server names a resource in messages (GroupResource): "pods", "deployments.apps". */
export function groupResource(r: Pick<Gvr, 'group' | 'resource'>): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

export function gvrString(gvr: Gvr): string {
  return gvr.group ? `${gvr.resource}.${gvr.version}.${gvr.group}` : `${gvr.resource}.${gvr.version}`;
}

export function resourceFacts(gvr: Gvr): ResourceFacts | undefined {
  return facts.get(key(gvr));
}

/** Records what the proxy has learned (e.g. a list answer's kind) for a resource. */
export function learnResource(gvr: Gvr, f: ResourceFacts): void {
  facts.set(key(gvr), f);
}

/**
 * Learns from a discovery document: legacy (`/api/v1` or `/apis/G/V`, kind APIResourceList) or
 * aggregated (`/api`, `/apis` as APIGroupDiscoveryList, apidiscovery.k8s.io v2 and v2beta1, which is
 * all kubectl 1.35 fetches). Ignores anything else, so every discovery answer may be handed here.
 * Returns how many resources it learned.
 */
export function learnDiscovery(doc: unknown): number {
  if (!doc || typeof doc !== 'object') return 0;
  const d = doc as { kind?: unknown; groupVersion?: unknown; resources?: unknown; items?: unknown };
  if (d.kind === 'APIGroupDiscoveryList' && Array.isArray(d.items)) return learnAggregated(d.items);
  if (d.kind !== 'APIResourceList' || typeof d.groupVersion !== 'string' || !Array.isArray(d.resources))
    return 0;
  const slash = d.groupVersion.indexOf('/');
  const group = slash === -1 ? '' : d.groupVersion.slice(0, slash);
  const version = slash === -1 ? d.groupVersion : d.groupVersion.slice(slash + 1);
  let n = 0;
  for (const r of d.resources as {
    name?: unknown;
    kind?: unknown;
    namespaced?: unknown;
    verbs?: unknown;
  }[]) {
    // Subresources ("pods/status") carry their parent's kind; they are not list targets.
    if (typeof r?.name !== 'string' || r.name.includes('/') || typeof r.kind !== 'string') continue;
    learnResource(
      { group, version, resource: r.name },
      { kind: r.kind, listKind: `${r.kind}List`, namespaced: r.namespaced === true, ...verbsOf(r.verbs) },
    );
    n++;
  }
  return n;
}

interface AggregatedResource {
  resource?: unknown;
  responseKind?: { kind?: unknown };
  scope?: unknown;
  verbs?: unknown;
}

/** items[].metadata.name is the group ('' for /api), versions[].resources[] its resources. */
function learnAggregated(items: unknown[]): number {
  let n = 0;
  for (const item of items as { metadata?: { name?: unknown }; versions?: unknown }[]) {
    const group = typeof item?.metadata?.name === 'string' ? item.metadata.name : '';
    if (!Array.isArray(item?.versions)) continue;
    for (const v of item.versions as { version?: unknown; resources?: unknown }[]) {
      if (typeof v?.version !== 'string' || !Array.isArray(v.resources)) continue;
      for (const r of v.resources as AggregatedResource[]) {
        const kind = r?.responseKind?.kind;
        if (typeof r?.resource !== 'string' || r.resource.includes('/') || typeof kind !== 'string' || !kind)
          continue;
        learnResource(
          { group, version: v.version, resource: r.resource },
          { kind, listKind: `${kind}List`, namespaced: r.scope === 'Namespaced', ...verbsOf(r.verbs) },
        );
        n++;
      }
    }
  }
  return n;
}

function verbsOf(verbs: unknown): { verbs?: string[] } {
  return Array.isArray(verbs) ? { verbs: verbs.filter((v): v is string => typeof v === 'string') } : {};
}
