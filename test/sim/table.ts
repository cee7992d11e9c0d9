/**
 * Server-side printing and metadata-only views, the representations clients ask for with Accept
 * parameters: `as=Table` (kubectl's human-readable output) and `as=PartialObjectMetadata[List]`
 * (metadata informers). Columns follow kube-apiserver's printers for the resources simulated.
 */
import type { SimObject } from './object.js';
import { groupVersion, type SimResource } from './resources.js';

export type Representation =
  | { as: 'object' }
  | { as: 'Table'; version: 'v1' | 'v1beta1' }
  | { as: 'PartialObjectMetadata'; version: 'v1' | 'v1beta1' };

/**
 * The first alternative of an Accept header the simulator can produce, or undefined (406).
 * `forList` picks PartialObjectMetadataList over PartialObjectMetadata.
 */
export function negotiate(accept: string | undefined, forList: boolean): Representation | undefined {
  if (!accept) return { as: 'object' };
  for (const alt of accept.split(',')) {
    const [typeRaw, ...paramParts] = alt.split(';');
    const type = typeRaw!.trim().toLowerCase();
    if (!['application/json', 'application/yaml', '*/*', 'application/*'].includes(type)) continue;
    const params = new Map<string, string>();
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
    }
    const as = params.get('as');
    if (!as) return { as: 'object' };
    const version = params.get('v');
    if (params.get('g') !== 'meta.k8s.io' || (version !== 'v1' && version !== 'v1beta1')) continue;
    if (as === 'Table') return { as: 'Table', version };
    if (as === (forList ? 'PartialObjectMetadataList' : 'PartialObjectMetadata')) {
      return { as: 'PartialObjectMetadata', version };
    }
  }
  return undefined;
}

export function contentType(rep: Representation, forList: boolean): string {
  if (rep.as === 'object') return 'application/json';
  const as = rep.as === 'Table' ? 'Table' : forList ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
  return `application/json;as=${as};v=${rep.version};g=meta.k8s.io`;
}

export function partialObjectMetadata(obj: SimObject, version: string): unknown {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata };
}

export function partialObjectMetadataList(items: SimObject[], metadata: unknown, version: string): unknown {
  return {
    kind: 'PartialObjectMetadataList',
    apiVersion: `meta.k8s.io/${version}`,
    metadata,
    items: items.map((o) => partialObjectMetadata(o, version)),
  };
}

// ------------------------------------------------------------------------------ Table

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format: string;
  description: string;
  priority: number;
  cell: (o: SimObject, now: number) => unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: printers read arbitrary object fields.
type Any = Record<string, any>;

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (years < 8) return `${years}y${Math.floor(hours / 24) % 365}d`;
  return `${years}y`;
}

function since(ts: unknown, now: number): string {
  if (typeof ts !== 'string' || ts === '') return '<unknown>';
  return humanDuration(now - Date.parse(ts));
}

const col = (
  name: string,
  cell: Column['cell'],
  o: { type?: Column['type']; format?: string; priority?: number; description?: string } = {},
): Column => ({
  name,
  type: o.type ?? 'string',
  format: o.format ?? '',
  description: o.description ?? name,
  priority: o.priority ?? 0,
  cell,
});

const NAME = col('Name', (o) => o.metadata.name, {
  format: 'name',
  description:
    'Name must be unique within a namespace. More info: http://kubernetes.io/docs/user-guide/identifiers#names',
});
const AGE = col('Age', (o, now) => since(o.metadata.creationTimestamp, now), {
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
});
const orNone = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));

function podStatus(p: Any): string {
  if (p.metadata?.deletionTimestamp) return 'Terminating';
  let reason: string = p.status?.reason || p.status?.phase || 'Unknown';
  for (const c of (p.status?.containerStatuses ?? []) as Any[]) {
    const r = c.state?.waiting?.reason ?? c.state?.terminated?.reason;
    if (r) reason = r;
  }
  return reason;
}

function nodeStatus(n: Any): string {
  const ready = ((n.status?.conditions ?? []) as Any[]).find((c) => c.type === 'Ready');
  let s = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  if (n.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(n: Any): string {
  const roles = Object.keys(n.metadata?.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter(Boolean)
    .sort();
  return roles.length ? roles.join(',') : '<none>';
}

function nodeAddress(n: Any, type: string): string {
  return orNone(((n.status?.addresses ?? []) as Any[]).find((a) => a.type === type)?.address);
}

function servicePorts(s: Any): string {
  const ports = (s.spec?.ports ?? []) as Any[];
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function selectorString(sel: Any | undefined): string {
  const entries = Object.entries(sel ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

function endpointsString(e: Any): string {
  const out: string[] = [];
  for (const subset of (e.subsets ?? []) as Any[]) {
    for (const a of (subset.addresses ?? []) as Any[]) {
      const ports = (subset.ports ?? []) as Any[];
      if (ports.length === 0) out.push(a.ip);
      for (const p of ports) out.push(`${a.ip}:${p.port}`);
    }
  }
  if (out.length === 0) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function sliceEndpoints(s: Any): string {
  const ips = ((s.endpoints ?? []) as Any[]).flatMap((e) => (e.addresses ?? []) as string[]);
  if (ips.length === 0) return '<unset>';
  return ips.length > 3 ? `${ips.slice(0, 3).join(',')} + ${ips.length - 3} more...` : ips.join(',');
}

function columnsFor(r: SimResource): Column[] {
  const key = r.group === '' ? r.resource : `${r.resource}.${r.group}`;
  switch (key) {
    case 'pods':
      return [
        NAME,
        col('Ready', (o) => {
          const p = o as Any;
          const total = (p.spec?.containers ?? []).length;
          const ready = ((p.status?.containerStatuses ?? []) as Any[]).filter((c) => c.ready).length;
          return `${ready}/${total}`;
        }),
        col('Status', (o) => podStatus(o)),
        col('Restarts', (o) =>
          String(
            ((o as Any).status?.containerStatuses ?? []).reduce(
              (n: number, c: Any) => n + (c.restartCount ?? 0),
              0,
            ),
          ),
        ),
        AGE,
        col('IP', (o) => orNone((o as Any).status?.podIP), { priority: 1 }),
        col('Node', (o) => orNone((o as Any).spec?.nodeName), { priority: 1 }),
        col('Nominated Node', (o) => orNone((o as Any).status?.nominatedNodeName), { priority: 1 }),
        col('Readiness Gates', () => '<none>', { priority: 1 }),
      ];
    case 'nodes':
      return [
        NAME,
        col('Status', (o) => nodeStatus(o)),
        col('Roles', (o) => nodeRoles(o)),
        AGE,
        col('Version', (o) => orNone((o as Any).status?.nodeInfo?.kubeletVersion)),
        col('Internal-IP', (o) => nodeAddress(o, 'InternalIP'), { priority: 1 }),
        col('External-IP', (o) => nodeAddress(o, 'ExternalIP'), { priority: 1 }),
        col('OS-Image', (o) => orNone((o as Any).status?.nodeInfo?.osImage), { priority: 1 }),
        col('Kernel-Version', (o) => orNone((o as Any).status?.nodeInfo?.kernelVersion), { priority: 1 }),
        col('Container-Runtime', (o) => orNone((o as Any).status?.nodeInfo?.containerRuntimeVersion), {
          priority: 1,
        }),
      ];
    case 'namespaces':
      return [NAME, col('Status', (o) => orNone((o as Any).status?.phase)), AGE];
    case 'configmaps':
      return [
        NAME,
        col(
          'Data',
          (o) => Object.keys((o as Any).data ?? {}).length + Object.keys((o as Any).binaryData ?? {}).length,
          {
            type: 'integer',
          },
        ),
        AGE,
      ];
    case 'secrets':
      return [
        NAME,
        col('Type', (o) => (o as Any).type ?? 'Opaque'),
        col('Data', (o) => Object.keys((o as Any).data ?? {}).length, { type: 'integer' }),
        AGE,
      ];
    case 'services':
      return [
        NAME,
        col('Type', (o) => (o as Any).spec?.type ?? 'ClusterIP'),
        col('Cluster-IP', (o) => orNone((o as Any).spec?.clusterIP)),
        col('External-IP', (o) => {
          const s = o as Any;
          const ingress = ((s.status?.loadBalancer?.ingress ?? []) as Any[]).map((i) => i.ip ?? i.hostname);
          const ips = [...(s.spec?.externalIPs ?? []), ...ingress];
          if (ips.length) return ips.join(',');
          return s.spec?.type === 'LoadBalancer' ? '<pending>' : '<none>';
        }),
        col('Port(s)', (o) => servicePorts(o)),
        AGE,
        col('Selector', (o) => selectorString((o as Any).spec?.selector), { priority: 1 }),
      ];
    case 'endpoints':
      return [NAME, col('Endpoints', (o) => endpointsString(o)), AGE];
    case 'endpointslices.discovery.k8s.io':
      return [
        NAME,
        col('AddressType', (o) => (o as Any).addressType),
        col('Ports', (o) => {
          const ports = ((o as Any).ports ?? []) as Any[];
          return ports.length ? ports.map((p) => p.port ?? '<unset>').join(',') : '<unset>';
        }),
        col('Endpoints', (o) => sliceEndpoints(o)),
        AGE,
      ];
    case 'leases.coordination.k8s.io':
      return [NAME, col('Holder', (o) => (o as Any).spec?.holderIdentity ?? ''), AGE];
    case 'events':
      return [
        col('Last Seen', (o, now) => since((o as Any).lastTimestamp ?? (o as Any).eventTime, now)),
        col('Type', (o) => (o as Any).type ?? ''),
        col('Reason', (o) => (o as Any).reason ?? ''),
        col('Object', (o) => {
          const io = (o as Any).involvedObject ?? {};
          return `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`;
        }),
        col('Subobject', (o) => (o as Any).involvedObject?.fieldPath ?? '', { priority: 1 }),
        col('Source', (o) => (o as Any).source?.component ?? '', { priority: 1 }),
        col('Message', (o) => (o as Any).message ?? ''),
        col('First Seen', (o, now) => since((o as Any).firstTimestamp, now), { priority: 1 }),
        col('Count', (o) => (o as Any).count ?? 1, { type: 'integer', priority: 1 }),
        col('Name', (o) => o.metadata.name, { priority: 1 }),
      ];
    default:
      return [NAME, AGE];
  }
}

function stripColumn({ cell: _c, ...def }: Column): Omit<Column, 'cell'> {
  return def;
}

export function toTable(
  resource: SimResource,
  objs: SimObject[],
  listMeta: Record<string, unknown>,
  o: { version: string; includeObject: string; columns: boolean },
): unknown {
  const cols = columnsFor(resource);
  const now = Date.now();
  const rows = objs.map((obj) => {
    const row: Record<string, unknown> = { cells: cols.map((c) => c.cell(obj, now)) };
    if (o.includeObject === 'Object') {
      row.object = { apiVersion: groupVersion(resource), kind: resource.kind, ...obj };
    } else if (o.includeObject !== 'None') {
      row.object = partialObjectMetadata(obj, o.version);
    }
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${o.version}`,
    metadata: listMeta,
    columnDefinitions: o.columns ? cols.map(stripColumn) : [],
    rows,
  };
}
