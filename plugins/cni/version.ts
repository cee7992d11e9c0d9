/** The CNI spec versions this library speaks, and comparisons between version strings. */
import { CniError, ErrorCode } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

/** libcni's config decoder treats a config without cniVersion as 0.1.0. */
export const IMPLICIT_VERSION = '0.1.0';

const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/;

export function parseVersion(v: string): [number, number, number] {
  const m = SEMVER.exec(v);
  if (!m) throw new CniError(ErrorCode.DecodingFailure, `invalid version "${v}": expected MAJOR.MINOR.PATCH`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = pa[i]! - pb[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function atLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Code 1 unless `v` is one of ours, with the details libcni gives. */
export function requireSupported(v: string): void {
  parseVersion(v);
  if (!isSupported(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
}

/**
 * The version to speak to a peer that supports `theirs`: the highest one both know that is not above
 * `wanted`. Undefined when there is none.
 */
export function negotiate(wanted: string, theirs: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const v of theirs) {
    if (!SEMVER.test(v) || !isSupported(v) || compareVersions(v, wanted) > 0) continue;
    if (best === undefined || compareVersions(v, best) > 0) best = v;
  }
  return best;
}
