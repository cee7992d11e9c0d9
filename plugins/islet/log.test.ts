import { describe, expect, it } from 'vitest';
import { isoTime } from './log.js';

describe('isoTime', () => {
  it('prints what Date#toISOString prints, for random instants of years 0 to 9999', () => {
    const last = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    const first = new Date(0).setUTCFullYear(0, 0, 1);
    for (let i = 0; i < 2000; i++) {
      const d = new Date(first + Math.floor(Math.random() * (last - first)));
      expect(isoTime(d)).toBe(d.toISOString());
    }
    for (const t of [0, Date.UTC(2026, 0, 1), Date.UTC(1999, 11, 31, 23, 59, 59, 999), last])
      expect(isoTime(new Date(t))).toBe(new Date(t).toISOString());
  });
});
