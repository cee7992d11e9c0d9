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
