import { describe, expect, it } from 'vitest';
import { CniError } from '../cni/errors.js';
import type { NetConf } from '../cni/types.js';
import { DEFAULTS, parseConfig } from './config.js';

const parent = (ipam: Record<string, unknown>): NetConf => ({
  cniVersion: '1.0.0',
  name: 'n',
  type: 'bridge',
  ipam,
});

function code7(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    return (err as CniError).message;
  }
  throw new Error('expected a code 7 error');
}

describe('islet config', () => {
  it('wrapper: defaults for everything but the delegate', () => {
    const cfg = parseConfig(
      parent({ type: 'islet', delegate: { type: 'host-local', subnet: '10.0.0.0/24' } }),
    );
    expect(cfg).toEqual({
      role: 'ipam',
      database: DEFAULTS.database,
      logFile: '',
      logLevel: 'info',
      delegate: { type: 'host-local', subnet: '10.0.0.0/24' },
      delegateType: 'host-local',
      snapshotTtlMs: 720 * 3600 * 1000,
      delegateTimeoutMs: 10_000,
      linkStateFile: '/run/islet/link.json',
      requireUidMatch: true,
    });
  });

  it('wrapper: reads every option and tolerates unknown fields', () => {
    const cfg = parseConfig(
      parent({
        type: 'islet',
        delegate: { type: 'host-local' },
        database: '/tmp/x.db',
        snapshotTTL: 3600,
        delegateTimeout: '1.5s',
        linkStateFile: '/tmp/link.json',
        requireUidMatch: false,
        logFile: '/tmp/islet.log',
        logLevel: 'debug',
        somethingNew: { nested: true },
      }),
    );
    expect(cfg).toMatchObject({
      database: '/tmp/x.db',
      snapshotTtlMs: 3_600_000,
      delegateTimeoutMs: 1500,
      linkStateFile: '/tmp/link.json',
      requireUidMatch: false,
      logFile: '/tmp/islet.log',
      logLevel: 'debug',
    });
  });

  it('merges wrapper-level ranges/routes/dataDir (flannel fills them there) unless the delegate sets them', () => {
    const cfg = parseConfig(
      parent({
        type: 'islet',
        delegate: { type: 'host-local', dataDir: '/own' },
        ranges: [[{ subnet: '10.244.1.0/24' }]],
        routes: [{ dst: '10.244.0.0/16' }],
        dataDir: '/ignored',
      }),
    );
    expect(cfg.role === 'ipam' && cfg.delegate).toEqual({
      type: 'host-local',
      dataDir: '/own',
      ranges: [[{ subnet: '10.244.1.0/24' }]],
      routes: [{ dst: '10.244.0.0/16' }],
    });
  });

  it('chained recorder: type islet at the top level', () => {
    const cfg = parseConfig({ cniVersion: '1.0.0', name: 'n', type: 'islet', database: '/tmp/r.db' });
    expect(cfg).toEqual({ role: 'chained', database: '/tmp/r.db', logFile: '', logLevel: 'info' });
  });

  const bad: [string, NetConf, RegExp][] = [
    ['no delegate', parent({ type: 'islet' }), /ipam.delegate must be an object/],
    ['delegate without type', parent({ type: 'islet', delegate: {} }), /delegate.type/],
    ['delegate is islet', parent({ type: 'islet', delegate: { type: 'islet' } }), /not be islet/],
    ['bad TTL', parent({ type: 'islet', delegate: { type: 'h' }, snapshotTTL: '3 days' }), /snapshotTTL/],
    ['negative TTL', parent({ type: 'islet', delegate: { type: 'h' }, snapshotTTL: -1 }), /snapshotTTL/],
    [
      'zero timeout',
      parent({ type: 'islet', delegate: { type: 'h' }, delegateTimeout: '0s' }),
      /greater than zero/,
    ],
    ['bad log level', parent({ type: 'islet', delegate: { type: 'h' }, logLevel: 'loud' }), /logLevel/],
    [
      'database not a string',
      parent({ type: 'islet', delegate: { type: 'h' }, database: 5 }),
      /database must be a string/,
    ],
    [
      'uid flag not boolean',
      parent({ type: 'islet', delegate: { type: 'h' }, requireUidMatch: 'yes' }),
      /requireUidMatch/,
    ],
    ['neither role', parent({ type: 'host-local' }), /must be called as/],
  ];
  for (const [what, conf, msg] of bad) {
    it(`rejects ${what} with code 7`, () => {
      expect(code7(() => parseConfig(conf))).toMatch(msg);
    });
  }
});

describe('durations', () => {
  const ttl = (snapshotTTL: unknown) => {
    const cfg = parseConfig(parent({ type: 'islet', delegate: { type: 'h' }, snapshotTTL }));
    return cfg.role === 'ipam' ? cfg.snapshotTtlMs : undefined;
  };

  it('reads Go duration strings and numbers of seconds', () => {
    expect(ttl('720h')).toBe(720 * 3_600_000);
    expect(ttl('1h30m')).toBe(5_400_000);
    expect(ttl('250ms')).toBe(250);
    expect(ttl('1.5s')).toBe(1500);
    expect(ttl('0')).toBe(0);
    expect(ttl(90)).toBe(90_000);
    expect(ttl(0.0001)).toBe(1);
  });

  it('rejects anything else, naming the field and the problem', () => {
    const msg = (v: unknown) =>
      code7(() => parseConfig(parent({ type: 'islet', delegate: { type: 'h' }, snapshotTTL: v })));
    expect(msg('10')).toBe('invalid islet config: ipam.snapshotTTL: missing unit in duration "10"');
    expect(msg('5d')).toBe(
      'invalid islet config: ipam.snapshotTTL: unknown unit "d" in duration "5d" (units: ns, us, µs, ms, s, m, h)',
    );
    expect(msg('-1h')).toBe('invalid islet config: ipam.snapshotTTL: duration "-1h" is negative');
    expect(msg('')).toBe('invalid islet config: ipam.snapshotTTL: invalid duration ""');
    expect(msg(-1)).toBe(
      'invalid islet config: ipam.snapshotTTL: -1 is not a non-negative number of seconds',
    );
    for (const v of [true, ['1s'], { s: 1 }]) {
      expect(msg(v)).toBe(
        'invalid islet config: ipam.snapshotTTL: expected a duration like "720h" or "10s", or a number of seconds',
      );
    }
  });
});
