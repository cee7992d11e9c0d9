import { describe, expect, it } from 'vitest';
import { DurationError, parseDuration, parseDurationNs } from './duration.js';

const S = 1_000_000_000n;
const MIN = 60n * S;
const H = 60n * MIN;

function errorOf(text: string): string {
  try {
    parseDurationNs(text);
  } catch (err) {
    expect(err).toBeInstanceOf(DurationError);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

describe('parseDurationNs: the values Go gives', () => {
  // The accepted cases of Go's own time.ParseDuration tests (negative ones aside).
  const cases: [string, bigint][] = [
    ['0', 0n],
    ['+0', 0n],
    ['-0', 0n],
    ['-0s', 0n],
    ['5s', 5n * S],
    ['+5s', 5n * S],
    ['1478s', 1478n * S],
    ['5.0s', 5n * S],
    ['5.6s', 5n * S + 600_000_000n],
    ['5.s', 5n * S],
    ['.5s', 500_000_000n],
    ['1.004s', 1_004_000_000n],
    ['100.00100s', 100n * S + 1_000_000n],
    ['10ns', 10n],
    ['11us', 11_000n],
    ['12µs', 12_000n],
    ['12μs', 12_000n],
    ['13ms', 13_000_000n],
    ['15m', 15n * MIN],
    ['16h', 16n * H],
    ['24h', 24n * H],
    ['3h30m', 3n * H + 30n * MIN],
    ['10.5s4m', 4n * MIN + 10n * S + 500_000_000n],
    ['1h2m3s4ms5us6ns', H + 2n * MIN + 3n * S + 4_000_000n + 5_000n + 6n],
    ['39h9m14.425s', 39n * H + 9n * MIN + 14n * S + 425_000_000n],
    ['0.3333333333333333333h', 20n * MIN],
    ['9007199254740993ns', (1n << 53n) + 1n],
    ['9223372036854775807ns', (1n << 63n) - 1n],
    ['9223372036854775.807us', (1n << 63n) - 1n],
    ['9223372036s854ms775us807ns', (1n << 63n) - 1n],
    ['0.100000000000000000000h', 6n * MIN],
    ['0.830103483285477580700h', 49n * MIN + 48n * S + 372_539_827n],
  ];
  it.each(cases)('%s', (text, ns) => {
    expect(parseDurationNs(text)).toBe(ns);
  });
});

describe('parseDuration: whole milliseconds', () => {
  // Exact where the value is whole; rounded up otherwise, so a positive duration never becomes 0.
  const cases: [string, number][] = [
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2.5s', 2500],
    ['24h', 86_400_000],
    ['720h', 2_592_000_000],
    ['0', 0],
    ['1ns', 1],
    ['1.5ms', 2],
    ['999us', 1],
    ['1000us', 1],
    ['9223372036854775807ns', 9_223_372_036_855],
  ];
  it.each(cases)('%s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('refusals name the input and the problem', () => {
  const cases: [string, string][] = [
    ['', 'invalid duration ""'],
    ['-', 'invalid duration "-"'],
    ['s', 'invalid duration "s"'],
    ['.', 'invalid duration "."'],
    ['-.', 'invalid duration "-."'],
    ['.s', 'invalid duration ".s"'],
    ['+.s', 'invalid duration "+.s"'],
    ['1h-2m', 'unknown unit "h-" in duration "1h-2m" (units: ns, us, µs, ms, s, m, h)'],
    [' 5s', 'invalid duration " 5s"'],
    ['3', 'missing unit in duration "3"'],
    ['10', 'missing unit in duration "10"'],
    ['1h30', 'missing unit in duration "1h30"'],
    ['1d', 'unknown unit "d" in duration "1d" (units: ns, us, µs, ms, s, m, h)'],
    ['1h 30m', 'unknown unit "h " in duration "1h 30m" (units: ns, us, µs, ms, s, m, h)'],
    ['5S', 'unknown unit "S" in duration "5S" (units: ns, us, µs, ms, s, m, h)'],
    ['-5s', 'duration "-5s" is negative'],
    ['-1ns', 'duration "-1ns" is negative'],
    // int64 nanoseconds overflow, as in Go
    ['9223372036854775808ns', 'invalid duration "9223372036854775808ns"'],
    ['9223372036854775810ns', 'invalid duration "9223372036854775810ns"'],
    ['9223372036854775.808us', 'invalid duration "9223372036854775.808us"'],
    ['3000000h', 'invalid duration "3000000h"'],
    ['2562047h47m16.854775808s', 'invalid duration "2562047h47m16.854775808s"'],
  ];
  it.each(cases)('%j', (text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('parseDuration refuses the same inputs', () => {
    expect(() => parseDuration('10')).toThrow(new DurationError('missing unit in duration "10"'));
  });

  it('the largest duration Go accepts is accepted', () => {
    expect(parseDurationNs('2562047h47m16.854775807s')).toBe((1n << 63n) - 1n);
  });
});
