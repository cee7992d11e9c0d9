/**
 * Durations in Go's syntax (`time.ParseDuration`: "1h30m", "250ms", "2.5s", ".5s", "0"), the one
 * syntax Kubernetes people already write in kubelet and CNI configs. Used by the CNI config and the
 * proxy's flags, so it is a leaf module with no imports: the CNI path loads it on every call.
 *
 * Parsing follows Go's algorithm step by step (integer nanoseconds, the same overflow limits, the
 * same truncation of fractions), so a value means here what it means in Go. Negative durations are
 * valid Go but never a valid timeout, interval or TTL, so they are refused.
 */

/** A duration string that Go would refuse, or a negative one. The message names the input. */
export class DurationError extends Error {
  override name = 'DurationError';
}

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // µ MICRO SIGN, as Go accepts it
  '\u03bcs': 1_000n, // μ GREEK SMALL LETTER MU, likewise
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const UNITS = 'ns, us, µs, ms, s, m, h';
const LIMIT = 1n << 63n; // Go's time.Duration is an int64 of nanoseconds
const NS_PER_MS = 1_000_000n;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/**
 * Milliseconds of a Go duration string, rounded up to a whole millisecond (so "1us" is 1, and no
 * positive duration becomes 0).
 */
export function parseDuration(text: string): number {
  const ns = parseDurationNs(text);
  return Number((ns + NS_PER_MS - 1n) / NS_PER_MS);
}

/** Nanoseconds of a Go duration string, exactly as Go computes them (an int64 there). */
export function parseDurationNs(orig: string): bigint {
  const invalid = () => new DurationError(`invalid duration ${JSON.stringify(orig)}`);
  let s = orig;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) throw invalid();
    // Integer part: Go's leadingInt, which fails past 2^63.
    const intStart = i;
    let v = 0n;
    while (isDigit(s[i])) {
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > LIMIT) throw invalid();
      i++;
    }
    const hasInt = i > intStart;
    // Fraction: Go's leadingFraction, which stops accumulating (but keeps consuming) on overflow.
    let f = 0n;
    let scale = 1;
    let hasFraction = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const y = f * 10n + BigInt(s.charCodeAt(i) - 48);
          if (f > (LIMIT - 1n) / 10n || y > LIMIT) overflow = true;
          else {
            f = y;
            scale *= 10;
          }
        }
        i++;
      }
      hasFraction = i > fracStart;
    }
    if (!hasInt && !hasFraction) throw invalid();
    // Unit: everything up to the next digit or dot.
    const unitStart = i;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    if (i === unitStart) throw new DurationError(`missing unit in duration ${JSON.stringify(orig)}`);
    const unitText = s.slice(unitStart, i);
    const unit = NS_PER_UNIT[unitText];
    if (unit === undefined) {
      throw new DurationError(
        `unknown unit ${JSON.stringify(unitText)} in duration ${JSON.stringify(orig)} (units: ${UNITS})`,
      );
    }
    if (v > LIMIT / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // float64 arithmetic, truncated, exactly as Go does it
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > LIMIT) throw invalid();
    }
    total += v;
    if (total > LIMIT) throw invalid();
  }
  if (negative) {
    if (total === 0n) return 0n;
    throw new DurationError(`duration ${JSON.stringify(orig)} is negative`);
  }
  if (total > LIMIT - 1n) throw invalid();
  return total;
}
