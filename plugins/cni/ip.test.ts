import { isIP as netIsIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isIP } from './ip.js';

// Shapes node:net's isIP accepts or refuses, including the edges of zero compression, embedded
// IPv4 tails and zone ids: ip.ts must judge every one of them the same way.
const CASES = [
  '0.0.0.0',
  '10.22.0.5',
  '255.255.255.255',
  '256.1.1.1',
  '01.2.3.4',
  '1.2.3',
  '1.2.3.4.5',
  '1.2.3.4 ',
  '',
  '::',
  '::1',
  '1::',
  'fd00::abcd',
  'FD00::ABCD',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8::',
  '1:2:3:4:5:6:7:8:9',
  '1::2::3',
  '1:::2',
  ':1::',
  '12345::',
  'g::1',
  '::ffff:10.0.0.1',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  '::1.2.3.4',
  '1.2.3.4::',
  '::1.2.3.4:5',
  '::ffff:256.0.0.1',
  'fe80::1%eth0',
  'fe80::1%',
  'fe80::1%a:b.c-d',
  'fe80::1%a b',
  '10.0.0.1%eth0',
];

describe('isIP', () => {
  it.each(CASES)('judges %j like node:net', (text) => {
    expect(isIP(text)).toBe(netIsIP(text));
  });
});
