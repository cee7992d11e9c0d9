import { isLocalResourceVersion, upstreamBaseOf } from '../resource-version.js';

/**
 * Resource versions are opaque strings to clients, but every etcd-backed API server (and the
 * simulator) hands out increasing integers; ordering them is what lets the event log answer "what
 * happened after RV x". A version that is not an integer cannot be placed and is refused.
 */
export function parseResourceVersion(rv: string | undefined): bigint | undefined {
  // a local version of the write policy ("5-islet-1") is placed at the upstream version it built on
  const base = isLocalResourceVersion(rv) ? upstreamBaseOf(rv) : rv;
  if (base === undefined || !/^[0-9]{1,30}$/.test(base)) return undefined;
  return BigInt(base);
}

/** The version of an object, if it carries a usable one. */
export function objectResourceVersion(
  obj: { metadata?: { resourceVersion?: string } } | undefined,
): bigint | undefined {
  return parseResourceVersion(obj?.metadata?.resourceVersion);
}

export function maxRv(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
