/**
 * The three patch types kube-apiserver accepts for built-in types: JSON merge patch (RFC 7386),
 * strategic merge patch (list merge keys from the Kubernetes API types, the directives kubectl and
 * kubelet send), and JSON patch (RFC 6902).
 */
import { errors } from './status.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v) as Json;
  }
  return out;
}

/**
 * patchMergeKey of lists in the built-in types (by field name: within the resources simulated the
 * names do not collide). Lists not named here are replaced wholesale, as their Go types say.
 */
const MERGE_KEYS: Record<string, string> = {
  conditions: 'type',
  addresses: 'type',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  ephemeralContainerStatuses: 'name',
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  podIPs: 'ip',
  hostIPs: 'ip',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  volumesAttached: 'name',
  resourceClaims: 'name',
  resourceClaimStatuses: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
};

/** Lists of scalars with patchStrategy=merge: a patch adds to the set. */
const MERGED_SCALAR_LISTS = new Set(['finalizers']);

/** Container ports merge by containerPort, Service ports by port. */
function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === 'ports') {
    const first = items.find(isObject);
    if (first && 'containerPort' in first) return 'containerPort';
    if (first && 'port' in first) return 'port';
    return undefined;
  }
  return MERGE_KEYS[field];
}

function strategicList(field: string, original: Json | undefined, patch: Json[]): Json[] {
  const orig = Array.isArray(original) ? clone(original) : [];
  if (MERGED_SCALAR_LISTS.has(field)) {
    const out = [...orig];
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  const key = mergeKeyFor(field, [...patch, ...orig]);
  if (!key) {
    // Replace, honouring an explicit {"$patch":"replace"} element marker if present.
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  }
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  }
  const out = orig;
  for (const item of patch) {
    if (!isObject(item)) throw errors.badRequest(`strategic merge patch: list "${field}" expects objects`);
    const k = item[key];
    const idx = out.findIndex((o) => isObject(o) && o[key] === k);
    if (item.$patch === 'delete') {
      if (idx !== -1) out.splice(idx, 1);
      continue;
    }
    if (idx === -1) out.push(strategicMerge(undefined, item) as Json);
    else out[idx] = strategicMerge(out[idx], item) as Json;
  }
  return out;
}

/**
 * $setElementOrder/<field>: the patch's items in the order the client gave, then items only the
 * server had, in their previous order (kubelet always sends the full order for conditions).
 */
function reorder(field: string, list: Json[], order: Json[]): Json[] {
  const key = mergeKeyFor(field, [...order, ...list]);
  const id = (v: Json): Json => (key && isObject(v) ? (v[key] ?? null) : v);
  const wanted = order.map(id);
  const listed = list.filter((v) => wanted.includes(id(v)));
  listed.sort((a, b) => wanted.indexOf(id(a)) - wanted.indexOf(id(b)));
  return [...listed, ...list.filter((v) => !wanted.includes(id(v)))];
}

export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return strategicMerge(undefined, rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      out[k] = strategicList(k, out[k], v);
    } else if (isObject(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged as Json;
    } else {
      out[k] = v;
    }
  }
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = k.slice('$setElementOrder/'.length);
    const list = out[field];
    if (Array.isArray(list)) out[field] = reorder(field, list, order);
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  return out;
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw errors.badRequest(`json patch: invalid path "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: Json, parts: string[], path: string): Json {
  let cur: Json = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) {
      const i = Number(p);
      if (!/^\d+$/.test(p) || i >= cur.length)
        throw errors.invalidPatch(`json patch: path "${path}" not found`);
      cur = cur[i]!;
    } else if (isObject(cur) && Object.hasOwn(cur, p)) {
      cur = cur[p]!;
    } else {
      throw errors.invalidPatch(`json patch: path "${path}" not found`);
    }
  }
  return cur;
}

function parentOf(doc: Json, parts: string[], path: string): { container: Json; key: string } {
  if (parts.length === 0)
    throw errors.invalidPatch(`json patch: cannot operate on the document root ("${path}")`);
  return { container: getAt(doc, parts.slice(0, -1), path), key: parts[parts.length - 1]! };
}

function addAt(doc: Json, path: string, value: Json): Json {
  const parts = parsePointer(path);
  if (parts.length === 0) return value;
  const { container, key } = parentOf(doc, parts, path);
  if (Array.isArray(container)) {
    const i = key === '-' ? container.length : Number(key);
    if (!(key === '-' || /^\d+$/.test(key)) || i > container.length) {
      throw errors.invalidPatch(`json patch: invalid array index in "${path}"`);
    }
    container.splice(i, 0, value);
  } else if (isObject(container)) {
    container[key] = value;
  } else throw errors.invalidPatch(`json patch: path "${path}" not found`);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const parts = parsePointer(path);
  const { container, key } = parentOf(doc, parts, path);
  if (Array.isArray(container)) {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= container.length)
      throw errors.invalidPatch(`json patch: path "${path}" not found`);
    container.splice(i, 1);
  } else if (isObject(container) && Object.hasOwn(container, key)) {
    delete container[key];
  } else throw errors.invalidPatch(`json patch: path "${path}" not found`);
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw errors.badRequest('json patch: the patch must be a JSON array of operations');
  let doc = clone(target) as Json;
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw errors.badRequest('json patch: every operation needs "op" and "path"');
    }
    const { op, path } = raw;
    switch (op) {
      case 'add':
        doc = addAt(doc, path, clone(raw.value as Json));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        getAt(doc, parsePointer(path), path);
        doc = removeAt(doc, path);
        doc = addAt(doc, path, clone(raw.value as Json));
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw errors.badRequest(`json patch: "${op}" needs "from"`);
        const value = clone(getAt(doc, parsePointer(raw.from), raw.from));
        if (op === 'move') doc = removeAt(doc, raw.from);
        doc = addAt(doc, path, value);
        break;
      }
      case 'test': {
        const cur = getAt(doc, parsePointer(path), path);
        if (JSON.stringify(cur) !== JSON.stringify(raw.value)) {
          throw errors.invalidPatch(`json patch: test operation failed at "${path}"`);
        }
        break;
      }
      default:
        throw errors.badRequest(`json patch: unknown operation "${op}"`);
    }
  }
  return doc;
}

export const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export function applyPatch(contentType: string, target: unknown, patch: unknown): unknown {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === PATCH_TYPES.merge) return mergePatch(target, patch);
  if (type === PATCH_TYPES.strategic) return strategicMerge(target, patch);
  if (type === PATCH_TYPES.json) return jsonPatch(target, patch);
  throw errors.unsupportedMediaType(type);
}
