import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel } from './log.js';

describe('log', () => {
  it('writes JSON lines at or above the level, with child fields and errors', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => new Date(0) });
    log.debug('hidden');
    log.info('listening', { listen: '127.0.0.1:1' });
    const err = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    log.child({ component: 'upstream' }).warn('probe failed', { err });
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    expect(JSON.parse(lines[0]!)).toEqual({
      ts: '1970-01-01T00:00:00.000Z',
      level: 'info',
      msg: 'listening',
      listen: '127.0.0.1:1',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({
      level: 'warn',
      component: 'upstream',
      err: { name: 'Error', message: 'refused', code: 'ECONNREFUSED' },
    });
    expect(log.enabled('debug')).toBe(false);
    expect(log.enabled('error')).toBe(true);
  });

  it('survives unserializable fields', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    log.error('boom', { circular });
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'boom', logError: 'unserializable fields' });
  });

  it('parses levels and rejects others', () => {
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow(/unknown log level "verbose"/);
  });
});
