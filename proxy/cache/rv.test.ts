import { describe, expect, it } from 'vitest';
import { compareRv, newerRv, rvNumber } from './rv.js';

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
});
