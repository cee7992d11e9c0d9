import { checkKey, clone, isObject, type Json, ownValue, setOwn } from './json-value.js';

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces. */
export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    checkKey(k, 'merge patch');
    if (v === null) delete result[k];
    else setOwn(result, k, applyMergePatch(ownValue(result, k), v));
  }
  return result;
}
