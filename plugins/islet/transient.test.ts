import { describe, expect, it } from 'vitest';
import { DelegateError } from '../cni/delegate.js';
import { CniError } from '../cni/errors.js';
import { delegateRanges } from './ranges.js';
import { classifyFailure } from './transient.js';

const cni = (code: number, msg: string) => new DelegateError('cni', code, msg);

describe('delegate failure classes', () => {
  const cases: [string, unknown, string][] = [
    ['timeout kill', new DelegateError('timeout', 11, 'timed out'), 'transient'],
    ['killed by a signal', new DelegateError('signal', 11, 'killed by SIGKILL'), 'transient'],
    ['code 11', cni(11, 'busy'), 'transient'],
    ['connection refused', cni(999, 'dial tcp 10.0.0.1:6443: connect: connection refused'), 'transient'],
    ['i/o timeout', cni(999, 'Get "https://api": dial tcp: i/o timeout'), 'transient'],
    ['no route', cni(999, 'connect: no route to host'), 'transient'],
    ['unreachable', cni(999, 'network is unreachable'), 'transient'],
    [
      'read-only data dir',
      cni(999, 'open /var/lib/cni/networks/n/10.0.0.2: read-only file system'),
      'transient',
    ],
    ['permission denied', cni(999, 'mkdir /var/lib/cni/networks/n: permission denied'), 'transient'],
    [
      'exhausted',
      cni(999, 'failed to allocate for range 0: no IP addresses available in range set: 10.0.0.1-10.0.0.3'),
      'exhausted',
    ],
    [
      'sticky IP taken',
      cni(
        999,
        'failed to allocate for range 0: requested IP address 10.0.0.5 is not available in range set 10.0.0.1-10.0.0.254',
      ),
      'conflict',
    ],
    ['outside ranges', cni(999, 'failed to allocate all requested IPs: 10.9.0.9'), 'unfit'],
    ['code 1', cni(1, 'incompatible CNI versions'), 'config'],
    ['code 7', cni(7, 'bad config'), 'config'],
    ['code 4 even if the text sounds transient', cni(4, 'connection refused'), 'config'],
    ['missing delegate binary', new CniError(7, 'failed to find plugin'), 'config'],
    ['garbage', new DelegateError('garbage', 100, 'not JSON'), 'other'],
    ['unknown error', cni(999, 'something odd'), 'other'],
  ];
  for (const [what, err, cls] of cases) {
    it(`${what} → ${cls}`, () => {
      expect(classifyFailure(err, false)).toBe(cls);
    });
  }

  it('an unplaceable error counts as transient when the proxy reports the link offline', () => {
    expect(classifyFailure(cni(999, 'something odd'), true)).toBe('transient');
    expect(classifyFailure(cni(999, 'no IP addresses available in range set'), true)).toBe('exhausted');
    expect(classifyFailure(cni(7, 'bad'), true)).toBe('config');
  });
});

describe('delegate ranges', () => {
  it('reads host-local ranges with start/end and the legacy subnet form', () => {
    const r = delegateRanges(
      {
        ranges: [
          [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' }],
          [{ subnet: 'fd00::/64' }],
        ],
      },
      undefined,
    )!;
    expect(r.contains('10.0.0.15')).toBe(true);
    expect(r.contains('10.0.0.21')).toBe(false);
    expect(r.contains('10.0.1.15')).toBe(false);
    expect(r.contains('fd00::abcd')).toBe(true);
    expect(r.contains('fd01::1')).toBe(false);
    const legacy = delegateRanges(
      { subnet: '192.168.5.0/24' },
      { ipRanges: [[{ subnet: '172.16.0.0/16' }]] },
    )!;
    expect(legacy.contains('192.168.5.77')).toBe(true);
    expect(legacy.contains('172.16.3.4')).toBe(true);
  });

  it('is unknown for delegates that do not describe ranges', () => {
    expect(delegateRanges({ type: 'whereabouts-like' }, undefined)).toBeUndefined();
  });
});
