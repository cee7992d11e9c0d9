/**
 * resourceVersions: the one place the proxy orders, parses and makes them. Every part (cache
 * store, offline reads, watch, write policy, request checks) imports this module.
 *
 * They are opaque strings to clients, but etcd-backed servers (and the simulator) hand out
 * increasing integers; ordering them is what lets the store refuse stale versions and the event
 * log answer "what happened after RV x". Two integers compare as integers; anything else cannot be
 * ordered and callers must not assume either is newer.
 *
 * The node's own versions for objects it changed while offline must be told apart from the API
 * server's (a local version never goes upstream as a precondition), stay accepted as the
 * precondition of the client's next local write, and keep the upstream version they were derived
 * from, so that they still order sensibly:
 *
 *   "4711"          upstream version
 *   "4711-islet-3"  the third local change on top of 4711
 */
const DIGITS = /^\d+$/;
const LOCAL = /^([0-9]+)-islet-([0-9]+)$/;

export function isNumericRv(rv: string | undefined): rv is string {
  return rv !== undefined && DIGITS.test(rv);
}

export function isLocalResourceVersion(rv: string | undefined): boolean {
  return rv !== undefined && LOCAL.test(rv);
}

/** The upstream version a (possibly local) version is based on; '' when none is known. */
export function upstreamBaseOf(rv: string | undefined): string {
  if (rv === undefined) return '';
  const m = LOCAL.exec(rv);
  if (m) return m[1]!;
  return DIGITS.test(rv) ? rv : '';
}

/** The version of the next local change to an object currently at `rv`. */
export function nextLocalResourceVersion(rv: string | undefined): string {
  const m = rv === undefined ? null : LOCAL.exec(rv);
  if (m) return `${m[1]}-islet-${Number(m[2]) + 1}`;
  return `${upstreamBaseOf(rv) || '0'}-islet-1`;
}

/**
 * -1, 0, 1 like a comparator, for any two versions the proxy may hold: upstream integers as
 * integers, a local version right after its base and before the next upstream version
 * ("5" < "5-islet-1" < "5-islet-2" < "6"). undefined when either is neither (nothing can be
 * assumed about it).
 */
export function compareRv(a: string | undefined, b: string | undefined): number | undefined {
  const pa = parts(a);
  const pb = parts(b);
  if (!pa || !pb) return undefined;
  const x = pa.base.replace(/^0+(?=\d)/, '');
  const y = pb.base.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  if (x !== y) return x < y ? -1 : 1;
  return pa.n === pb.n ? 0 : pa.n < pb.n ? -1 : 1;
}

function parts(rv: string | undefined): { base: string; n: number } | undefined {
  if (rv === undefined) return undefined;
  if (DIGITS.test(rv)) return { base: rv, n: 0 };
  const m = LOCAL.exec(rv);
  return m ? { base: m[1]!, n: Number(m[2]) } : undefined;
}

/** The newer of two RVs; a non-numeric incoming RV replaces the held one (nothing to compare). */
export function newerRv(held: string, incoming: string): string {
  if (!incoming) return held;
  if (!held) return incoming;
  const c = compareRv(held, incoming);
  return c === undefined || c < 0 ? incoming : held;
}

/**
 * Of two versions of one object (e.g. the lease held and the one a client sent), the newer; when
 * they cannot be compared, the one with an upstream base, else `b`.
 */
export function newerObjectRv(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  const c = compareRv(a, b);
  if (c !== undefined) return c > 0 ? a : b;
  return upstreamBaseOf(a) !== '' && upstreamBaseOf(b) === '' ? a : b;
}

/** The RV as a SQLite integer for range queries; null when not numeric or beyond 2^63. */
export function rvNumber(rv: string | undefined): bigint | null {
  if (!isNumericRv(rv)) return null;
  const n = BigInt(rv);
  return n <= 9223372036854775807n ? n : null;
}

/**
 * The position of a version in the upstream's sequence: an integer as itself, a local version at
 * the upstream version it built on; undefined for anything else (it cannot be placed).
 */
export function parseResourceVersion(rv: string | undefined): bigint | undefined {
  const base = isLocalResourceVersion(rv) ? upstreamBaseOf(rv) : rv;
  if (base === undefined || !/^[0-9]{1,30}$/.test(base)) return undefined;
  return BigInt(base);
}

/** The position of an object's version, if it carries a usable one. */
export function objectResourceVersion(
  obj: { metadata?: { resourceVersion?: string } } | undefined,
): bigint | undefined {
  return parseResourceVersion(obj?.metadata?.resourceVersion);
}

export function maxRv(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Orders positions (parseResourceVersion) for sorting; one that could not be placed sorts as 0. */
export function comparePositions(a: bigint | undefined, b: bigint | undefined): number {
  const x = a ?? 0n;
  const y = b ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}
