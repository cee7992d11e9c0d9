/**
 * Server-side printing for the proxy (design.md §4, Tables): `kubectl get` asks for
 * `as=Table;g=meta.k8s.io`. Online the proxy fetches upstream's Table with full row objects (to fill
 * the cache) and hands the client the Table it asked for; offline it prints Tables itself with the
 * column definitions recorded from the real server (columns.json, scripts/table-columns.ts) and
 * cells computed as kube-apiserver's printers compute them.
 */
import type { Gvr } from '../types.js';
import { printDaemonSet, printDeployment, printReplicaSet } from './apps.js';
import COLUMNS from './columns.json' with { type: 'json' };
import { printConfigMap, printEvent, printNamespace, printNode, printSecret, printService } from './core.js';
import { printEndpointSlice, printLease } from './discovery.js';
import { since } from './duration.js';
import type { Json } from './format.js';
import { printPod } from './pods.js';
import type { PrintedRow, Printer } from './types.js';

export type TableVersion = 'v1' | 'v1beta1';
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const PRINTERS: Record<string, Printer> = {
  '/pods': printPod,
  '/nodes': printNode,
  '/services': printService,
  '/configmaps': printConfigMap,
  '/secrets': printSecret,
  '/namespaces': printNamespace,
  '/events': printEvent,
  'events.k8s.io/events': printEvent,
  'discovery.k8s.io/endpointslices': printEndpointSlice,
  'coordination.k8s.io/leases': printLease,
  'apps/deployments': printDeployment,
  'apps/daemonsets': printDaemonSet,
  'apps/replicasets': printReplicaSet,
};

const GENERIC_KEY = '*';
const columns = COLUMNS as Record<string, ColumnDefinition[]>;

/** What the server's default for a custom resource without printer columns prints: Name, Age. */
const printGeneric: Printer = (obj: Json, now) => ({
  cells: [obj.metadata?.name ?? '', since(obj.metadata?.creationTimestamp, now)],
});

const keyOf = (gvr: Gvr) => `${gvr.group}/${gvr.resource}`;

/** Whether the proxy prints this resource with a kind-specific printer (else the generic one). */
export function hasPrinter(gvr: Gvr): boolean {
  return PRINTERS[keyOf(gvr)] !== undefined;
}

export function columnDefinitions(gvr: Gvr): ColumnDefinition[] {
  return columns[hasPrinter(gvr) ? keyOf(gvr) : GENERIC_KEY] ?? [];
}

export function printRow(gvr: Gvr, obj: Json, now: number): PrintedRow {
  return (PRINTERS[keyOf(gvr)] ?? printGeneric)(obj, now);
}

/**
 * The Table version the client gets, when its first alternative the proxy can answer is a Table
 * (kubectl lists Table v1, Table v1beta1, then plain JSON); undefined for anything else.
 */
export function requestedTable(accept: string | undefined): TableVersion | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const [type = '', ...rest] = part.split(';').map((p) => p.trim());
    if (!/^(application\/json|application\/\*|\*\/\*)$/i.test(type)) continue;
    const params = new Map<string, string>();
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
    }
    if (/^0(\.0*)?$/.test(params.get('q') ?? '')) continue;
    const as = params.get('as');
    if (as === undefined) return undefined;
    const v = params.get('v');
    if (as === 'Table' && params.get('g') === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) return v;
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return undefined;
  }
  return undefined;
}

/** The request's includeObject (default Metadata); undefined when the value is not one the API knows. */
export function includeObjectOf(url: string): IncludeObject | undefined {
  const q = url.indexOf('?');
  const v = q === -1 ? '' : (new URLSearchParams(url.slice(q + 1)).get('includeObject') ?? '');
  if (v === '') return 'Metadata';
  return v === 'None' || v === 'Metadata' || v === 'Object' ? v : undefined;
}

/** The same URL asking for full objects in the rows: what the cache is filled from. */
export function withFullObjects(url: string): string {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  params.set('includeObject', 'Object');
  return `${q === -1 ? url : url.slice(0, q)}?${params.toString()}`;
}

/** A row's object as the client asked for it (the API server's asTable). */
export function rowObject(obj: Json, include: IncludeObject, version: TableVersion): Json {
  if (include === 'None') return null;
  if (include === 'Object') return obj;
  return {
    kind: 'PartialObjectMetadata',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: obj.metadata ?? {},
  };
}

export interface TableMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A Table of `objects` printed by the proxy. */
export function buildTable(
  gvr: Gvr,
  objects: Json[],
  opts: { version: TableVersion; include: IncludeObject; metadata: TableMeta; now?: number },
): Json {
  const now = opts.now ?? Date.now();
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.version}`,
    metadata: opts.metadata,
    columnDefinitions: columnDefinitions(gvr),
    rows: objects.map((obj) => {
      const printed = printRow(gvr, obj, now);
      return { ...printed, object: rowObject(obj, opts.include, opts.version) };
    }),
  };
}

/** Upstream's Table (rows with full objects) with the row objects the client asked for. */
export function reshapeTable(table: Json, include: IncludeObject): Json {
  const version: TableVersion = table.apiVersion === 'meta.k8s.io/v1beta1' ? 'v1beta1' : 'v1';
  if (include === 'Object' || !Array.isArray(table.rows)) return table;
  return {
    ...table,
    rows: (table.rows as Json[]).map((r) => ({ ...r, object: rowObject(r.object ?? {}, include, version) })),
  };
}
