/**
 * Table reads (kubectl get): the cache-fill body equivalent to an upstream Table with full row
 * objects, and the Table the proxy prints offline from a plain cached answer.
 */
import { apiVersionOf, resourceFacts } from '../gvr.js';
import { buildTable, type IncludeObject, type TableVersion } from '../table/index.js';
import type { Gvr, RequestInfo } from '../types.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON.
type Json = any;

/**
 * The plain JSON answer the same GET or LIST would have had, rebuilt from a Table whose rows carry
 * full objects; undefined when the Table does not (rows without objects cannot fill the cache).
 */
export function plainFromTable(info: RequestInfo, gvr: Gvr, table: Json): Buffer | undefined {
  const rows = (table.rows ?? []) as Json[];
  const objects = rows.map((r) => r?.object);
  if (objects.some((o) => !o || typeof o !== 'object' || o.kind === 'PartialObjectMetadata' || !o.metadata))
    return undefined;
  if (info.verb === 'get') return objects.length === 1 ? Buffer.from(JSON.stringify(objects[0])) : undefined;
  const facts = resourceFacts(gvr);
  const list = {
    kind: facts?.listKind ?? objects[0]?.kind?.concat('List') ?? 'List',
    apiVersion: objects[0]?.apiVersion ?? apiVersionOf(gvr),
    metadata: table.metadata ?? {},
    // List items carry no kind/apiVersion of their own, as in the plain list.
    items: objects.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
  };
  return Buffer.from(JSON.stringify(list));
}

/** The Table for a plain offline answer (an object or a list) of `gvr`. */
export function tableFromPlain(
  info: RequestInfo,
  gvr: Gvr,
  body: string,
  version: TableVersion,
  include: IncludeObject,
): string {
  const plain = JSON.parse(body) as Json;
  if (info.verb === 'get') {
    const rv = plain.metadata?.resourceVersion;
    return JSON.stringify(
      buildTable(gvr, [plain], { version, include, metadata: rv ? { resourceVersion: rv } : {} }),
    );
  }
  const apiVersion = plain.apiVersion ?? apiVersionOf(gvr);
  const kind = resourceFacts(gvr)?.kind;
  // Row objects asked in full get the kind and apiVersion list items lack, as upstream's rows have.
  const items = ((plain.items ?? []) as Json[]).map((o) => ({ ...(kind ? { kind } : {}), apiVersion, ...o }));
  return JSON.stringify(buildTable(gvr, items, { version, include, metadata: plain.metadata ?? {} }));
}
