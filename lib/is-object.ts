/**
 * A JSON object (not null, not an array): the check every parser of untrusted JSON here needs
 * before it reads fields. Leaf module, so the CNI path can import it for free.
 */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
