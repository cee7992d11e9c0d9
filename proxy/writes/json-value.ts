/** Plain JSON values as the patch functions see them. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [k: string]: Json;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Raised for a patch that cannot be applied; the policy answers it with the given HTTP status. */
export class PatchError extends Error {
  override name = 'PatchError';
  constructor(
    message: string,
    readonly code: 400 | 409 | 422 = 422,
  ) {
    super(message);
  }
}

/**
 * Keys a patch may not name. Offline patches arrive on the unauthenticated loopback listener and
 * are applied again at replay: `obj["__proto__"] = v` would reach Object.prototype, and the other
 * two lead there through a getter. No Kubernetes field, label or annotation the write policy
 * queues uses them, so they are refused (400) rather than interpreted.
 */
const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function checkKey(key: string, where: string): void {
  if (UNSAFE_KEYS.has(key)) throw new PatchError(`${where}: the key "${key}" is not allowed`, 400);
}

/** An object's own property (never one it inherits, like toString or __proto__). */
export function ownValue(obj: JsonObject, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Sets an own data property, even for a key the prototype chain has a setter for. */
export function setOwn(obj: JsonObject, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Structural equality of JSON values: object key order does not matter, array order does. */
export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}
