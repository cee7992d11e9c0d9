/**
 * resourceVersions are opaque strings to clients, but etcd-backed servers hand out increasing
 * integers. Compare them as integers when both are digit strings; otherwise they cannot be
 * ordered and callers must not assume either is newer.
 */
import { compareWithLocal } from '../resource-version.js';

const digits = /^\d+$/;

export function isNumericRv(rv: string | undefined): rv is string {
  return rv !== undefined && digits.test(rv);
}

/**
 * -1, 0, 1 like a comparator; undefined when either is neither numeric nor a local version of the
 * write policy ("5-islet-1": after 5, before 6; see proxy/writes/local-rv.ts).
 */
export function compareRv(a: string | undefined, b: string | undefined): number | undefined {
  return compareWithLocal(a, b);
}

/** The RV as a SQLite integer for range queries; null when not numeric or beyond 2^63. */
export function rvNumber(rv: string | undefined): bigint | null {
  if (!isNumericRv(rv)) return null;
  const n = BigInt(rv);
  return n <= 9223372036854775807n ? n : null;
}

/** The newer of two RVs; a non-numeric incoming RV replaces the held one (nothing to compare). */
export function newerRv(held: string, incoming: string): string {
  if (!incoming) return held;
  if (!held) return incoming;
  const c = compareRv(held, incoming);
  return c === undefined || c < 0 ? incoming : held;
}
