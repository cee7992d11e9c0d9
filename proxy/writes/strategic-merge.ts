import {
  checkKey,
  clone,
  deepEqual,
  isObject,
  type Json,
  type JsonObject,
  ownValue,
  PatchError,
  setOwn,
} from './json-value.js';

/**
 * Kubernetes strategic merge patch (what kubelet sends for node and pod status), for the objects
 * the write policy queues. The API server reads each list's strategy from Go struct tags; we keep
 * the tags of the fields those objects carry. A list not named here is replaced, like the server
 * does for a field without a patch strategy.
 */
type ListStrategy = { mergeKey: string } | 'primitive-merge';

const LIST_STRATEGIES: Record<string, ListStrategy> = {
  'metadata.finalizers': 'primitive-merge',
  'metadata.ownerReferences': { mergeKey: 'uid' },
  'status.conditions': { mergeKey: 'type' },
  'status.addresses': { mergeKey: 'type' },
  'status.podIPs': { mergeKey: 'ip' },
  'status.hostIPs': { mergeKey: 'ip' },
  'status.resourceClaimStatuses': { mergeKey: 'name' },
  'spec.podCIDRs': 'primitive-merge',
  'spec.containers': { mergeKey: 'name' },
  'spec.initContainers': { mergeKey: 'name' },
  'spec.ephemeralContainers': { mergeKey: 'name' },
  'spec.containers.env': { mergeKey: 'name' },
  'spec.containers.ports': { mergeKey: 'containerPort' },
  'spec.containers.volumeMounts': { mergeKey: 'mountPath' },
  'spec.initContainers.env': { mergeKey: 'name' },
  'spec.initContainers.volumeMounts': { mergeKey: 'mountPath' },
  'spec.volumes': { mergeKey: 'name' },
  'spec.imagePullSecrets': { mergeKey: 'name' },
  'spec.hostAliases': { mergeKey: 'ip' },
};

const SET_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE = '$deleteFromPrimitiveList/';

export function applyStrategicMergePatch(target: Json, patch: Json): JsonObject {
  if (!isObject(patch)) throw new PatchError('a strategic merge patch must be a JSON object', 400);
  const merged = mergeMap(isObject(target) ? target : {}, patch, '');
  return merged ?? {};
}

/** Returns undefined when the patch deletes the whole map ($patch: delete). */
function mergeMap(original: JsonObject, patch: JsonObject, path: string): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _, ...rest } = patch;
    return mergeMap({}, rest, path);
  }
  if (directive !== undefined)
    throw new PatchError(`unknown $patch directive ${JSON.stringify(directive)}`, 400);
  const result: JsonObject = clone(original);
  const orders: [string, Json[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    if (key.startsWith(SET_ORDER)) {
      if (!Array.isArray(value)) throw new PatchError(`${key} must be a list`, 400);
      checkKey(key.slice(SET_ORDER.length), 'strategic merge patch');
      orders.push([key.slice(SET_ORDER.length), value]);
      continue;
    }
    if (key.startsWith(DELETE_FROM_PRIMITIVE)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE.length);
      checkKey(field, 'strategic merge patch');
      const current = ownValue(result, field);
      if (!Array.isArray(value)) throw new PatchError(`${key} must be a list`, 400);
      if (Array.isArray(current))
        setOwn(
          result,
          field,
          current.filter((x) => !value.some((v) => deepEqual(v, x))),
        );
      continue;
    }
    checkKey(key, 'strategic merge patch');
    const childPath = path === '' ? key : `${path}.${key}`;
    const current = ownValue(result, key);
    if (value === null) {
      delete result[key];
    } else if (isObject(value)) {
      const merged = mergeMap(isObject(current) ? current : {}, value, childPath);
      if (merged === undefined) delete result[key];
      else setOwn(result, key, merged);
    } else if (Array.isArray(value)) {
      setOwn(result, key, mergeList(Array.isArray(current) ? current : [], value, childPath));
    } else {
      setOwn(result, key, value);
    }
  }
  for (const [field, order] of orders) {
    const list = ownValue(result, field);
    if (Array.isArray(list))
      setOwn(result, field, applyOrder(list, order, strategyOf(`${path ? `${path}.` : ''}${field}`)));
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function mergeList(original: Json[], patch: Json[], path: string): Json[] {
  const strategy = strategyOf(path);
  if (strategy === undefined) return patch.map((el) => fresh(el, path));
  if (strategy === 'primitive-merge') {
    const result = [...original];
    for (const el of patch) if (!result.some((x) => deepEqual(x, el))) result.push(el);
    return result;
  }
  const key = strategy.mergeKey;
  if (patch.some((el) => isObject(el) && el.$patch === 'replace')) {
    return patch.filter((el) => !(isObject(el) && el.$patch === 'replace')).map((el) => fresh(el, path));
  }
  const result = clone(original);
  for (const el of patch) {
    if (!isObject(el)) throw new PatchError(`${path}: list items must be objects keyed by ${key}`, 400);
    if (!Object.hasOwn(el, key))
      throw new PatchError(`${path}: a list item lacks its merge key "${key}"`, 400);
    const at = result.findIndex((x) => isObject(x) && deepEqual(ownValue(x, key), el[key]));
    if (el.$patch === 'delete') {
      if (at !== -1) result.splice(at, 1);
      continue;
    }
    if (at === -1) {
      result.push(fresh(el, path));
    } else {
      const merged = mergeMap(result[at] as JsonObject, el, path);
      if (merged === undefined) result.splice(at, 1);
      else result[at] = merged;
    }
  }
  return result;
}

/** A value new to the target still has its directives and nulls resolved, as the server does. */
function fresh(value: Json, path: string): Json {
  if (isObject(value)) return mergeMap({}, value, path) ?? {};
  return clone(value);
}

/** $setElementOrder: the patch's order first; items only the target has keep their order after them. */
function applyOrder(list: Json[], order: Json[], strategy: ListStrategy | undefined): Json[] {
  const keyOf = (x: Json): Json =>
    typeof strategy === 'object' && isObject(x) ? (ownValue(x, strategy.mergeKey) ?? null) : x;
  const position = (x: Json): number => order.findIndex((o) => deepEqual(keyOf(o), keyOf(x)));
  const ordered = list.filter((x) => position(x) !== -1).sort((a, b) => position(a) - position(b));
  return [...ordered, ...list.filter((x) => position(x) === -1)];
}

/** A list's strategy by its field path; own entries only (a path may be "constructor"). */
function strategyOf(path: string): ListStrategy | undefined {
  return Object.hasOwn(LIST_STRATEGIES, path) ? LIST_STRATEGIES[path] : undefined;
}
