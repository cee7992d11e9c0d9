import { describe, expect, it } from 'vitest';
import { isObject } from './is-object.js';

describe('isObject', () => {
  it('accepts JSON objects only', () => {
    expect(isObject({})).toBe(true);
    expect(isObject(JSON.parse('{"a":1}'))).toBe(true);
    for (const v of [null, undefined, [], [1], 'x', 1, true]) expect(isObject(v)).toBe(false);
  });
});
