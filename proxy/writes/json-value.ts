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
