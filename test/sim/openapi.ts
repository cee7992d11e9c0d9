/**
 * Just enough OpenAPI v3 for kubectl: an index at /openapi/v3 and, per group/version, the PATCH
 * and POST operations with their x-kubernetes-group-version-kind and the fieldValidation query
 * parameter. kubectl reads that to decide the server validates fields (so it skips client-side
 * validation against the v2 spec), and finding no schemas it computes apply patches from its
 * built-in types, as it does against any server without them.
 */
import { createHash } from 'node:crypto';
import { RESOURCES, type SimResource } from './resources.js';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function gvs(): Array<{ group: string; version: string }> {
  const out: Array<{ group: string; version: string }> = [];
  for (const r of RESOURCES) {
    if (!out.some((g) => g.group === r.group && g.version === r.version))
      out.push({ group: r.group, version: r.version });
  }
  return out;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function operation(r: SimResource, action: 'patch' | 'post' | 'put', sub: string): Record<string, unknown> {
  return {
    operationId: `${action}${r.kind}${sub}`,
    parameters: QUERY_PARAMS.map((name) => ({
      name,
      in: 'query',
      schema: { type: 'string', uniqueItems: true },
    })),
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
}

export function openApiDocument(group: string, version: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const prefix = `/${gvPath(r.group, r.version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    paths[prefix] = { post: operation(r, 'post', '') };
    paths[`${prefix}/{name}`] = { patch: operation(r, 'patch', ''), put: operation(r, 'put', '') };
    for (const s of r.subresources) {
      paths[`${prefix}/{name}/${s}`] = { patch: operation(r, 'patch', s), put: operation(r, 'put', s) };
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-islet-sim' },
    paths,
    components: { schemas: {} },
  };
}

export function openApiIndex(): unknown {
  const paths: Record<string, unknown> = {};
  for (const { group, version } of gvs()) {
    const hash = createHash('sha512')
      .update(JSON.stringify(openApiDocument(group, version)))
      .digest('hex')
      .slice(0, 128)
      .toUpperCase();
    paths[gvPath(group, version)] = {
      serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}`,
    };
  }
  return { paths };
}

/** '/openapi/v3/api/v1' → {group: '', version: 'v1'}; undefined for other paths. */
export function openApiPathGv(path: string): { group: string; version: string } | undefined {
  const core = /^\/openapi\/v3\/api\/([^/]+)$/.exec(path);
  if (core) return { group: '', version: core[1]! };
  const named = /^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  if (named) return { group: named[1]!, version: named[2]! };
  return undefined;
}
