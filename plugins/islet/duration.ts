/** Go-style durations ("720h", "1h30m", "10s", "250ms") or a number of seconds → milliseconds. */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/y;

export function parseDuration(value: unknown, field: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new Error(`${field}: ${value} is not a non-negative number of seconds`);
    return value * 1000;
  }
  if (typeof value !== 'string' || value === '') {
    throw new Error(`${field}: expected a duration like "720h" or "10s", or a number of seconds`);
  }
  if (value === '0') return 0;
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < value.length) {
    PART.lastIndex = pos;
    const m = PART.exec(value);
    if (!m) throw new Error(`${field}: invalid duration "${value}" (units: ns, us, ms, s, m, h)`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  return total;
}
