import { describe, expect, it } from 'vitest';
import { compareRv, newerObjectRv, newerRv, parseResourceVersion, rvNumber } from './resource-version.js';

describe('resourceVersion order', () => {
  it('compares digit strings as integers', () => {
    expect(compareRv('9', '10')).toBe(-1);
    expect(compareRv('10', '9')).toBe(1);
    expect(compareRv('007', '7')).toBe(0);
    expect(compareRv('123456789012345678901234567890', '123456789012345678901234567891')).toBe(-1);
  });

  it('refuses to order opaque RVs', () => {
    expect(compareRv('abc', '10')).toBeUndefined();
    expect(compareRv('', '10')).toBeUndefined();
    expect(compareRv('-1', '10')).toBeUndefined();
  });

  it('picks the newer, taking an opaque incoming RV as is', () => {
    expect(newerRv('10', '9')).toBe('10');
    expect(newerRv('9', '10')).toBe('10');
    expect(newerRv('', '5')).toBe('5');
    expect(newerRv('5', '')).toBe('5');
    expect(newerRv('5', 'opaque')).toBe('opaque');
  });

  it('maps to SQLite integers only within range', () => {
    expect(rvNumber('42')).toBe(42n);
    expect(rvNumber('9223372036854775807')).toBe(9223372036854775807n);
    expect(rvNumber('9223372036854775808')).toBeNull();
    expect(rvNumber('x')).toBeNull();
  });

  it("picks the newer of an object's two versions, a local one after its base, an opaque one last", () => {
    const cases: [string | undefined, string | undefined, string][] = [
      ['6', '5-islet-2', '6'],
      ['5-islet-1', '5', '5-islet-1'],
      ['5', '5-islet-1', '5-islet-1'],
      [undefined, '5', '5'],
      ['5', 'opaque', '5'],
      ['opaque', '5', '5'],
    ];
    for (const [a, b, newer] of cases) expect(newerObjectRv(a, b), `${a} vs ${b}`).toBe(newer);
  });

  it('places a local version at its upstream base', () => {
    expect(parseResourceVersion('4711-islet-3')).toBe(4711n);
    expect(parseResourceVersion('4711')).toBe(4711n);
    expect(parseResourceVersion('opaque')).toBeUndefined();
  });
});
