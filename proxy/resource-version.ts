/**
 * resourceVersions for objects the node changed itself while offline. They must be told apart
 * from the API server's (a local version never goes upstream as a precondition), stay accepted
 * as the precondition of the client's next local write, and keep the upstream version they were
 * derived from so a reader that parses the leading integer still orders them sensibly.
 *
 *   "4711"          upstream version
 *   "4711-islet-3"  the third local change on top of 4711
 */
const LOCAL = /^([0-9]+)-islet-([0-9]+)$/;

export function isLocalResourceVersion(rv: string | undefined): boolean {
  return rv !== undefined && LOCAL.test(rv);
}

/** The upstream version a (possibly local) version is based on; '' when none is known. */
export function upstreamBaseOf(rv: string | undefined): string {
  if (rv === undefined) return '';
  const m = LOCAL.exec(rv);
  if (m) return m[1]!;
  return /^[0-9]+$/.test(rv) ? rv : '';
}

/** The version of the next local change to an object currently at `rv`. */
export function nextLocalResourceVersion(rv: string | undefined): string {
  const m = rv === undefined ? null : LOCAL.exec(rv);
  if (m) return `${m[1]}-islet-${Number(m[2]) + 1}`;
  return `${upstreamBaseOf(rv) || '0'}-islet-1`;
}

/**
 * Orders any two versions the proxy may hold: upstream integers as integers, a local version
 * right after its base and before the next upstream version ("5" < "5-islet-1" < "5-islet-2" < "6").
 * undefined when either is neither (nothing can be assumed about it).
 */
export function compareWithLocal(a: string | undefined, b: string | undefined): number | undefined {
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
  if (/^[0-9]+$/.test(rv)) return { base: rv, n: 0 };
  const m = LOCAL.exec(rv);
  return m ? { base: m[1]!, n: Number(m[2]) } : undefined;
}
