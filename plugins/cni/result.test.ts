import { describe, expect, it } from 'vitest';
import { CniError } from './errors.js';
import { convertResult, parseResult, resultAddresses, splitCidr } from './result.js';
import { compareVersions, negotiate, SUPPORTED_VERSIONS } from './version.js';

const legacy = (v: string) => ({
  cniVersion: v,
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/var/run/netns/x' }],
  ips: [
    { version: '4', address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 },
    { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
  dns: { nameservers: ['10.0.0.10'], domain: 'cluster.local', search: ['a.svc'], options: ['ndots:5'] },
});

const modern = (v: string) => ({
  cniVersion: v,
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/var/run/netns/x' }],
  ips: [
    { address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
  dns: { nameservers: ['10.0.0.10'], domain: 'cluster.local', search: ['a.svc'], options: ['ndots:5'] },
});

const wire = (v: string) => (compareVersions(v, '1.0.0') >= 0 ? modern(v) : legacy(v));

describe('result conversion matrix', () => {
  for (const from of SUPPORTED_VERSIONS) {
    for (const to of SUPPORTED_VERSIONS) {
      it(`${from} → ${to} gives the ${to} wire shape`, () => {
        expect(convertResult(parseResult(wire(from)), to)).toEqual(wire(to));
      });
    }
  }

  it('keeps 1.1.0 interface and route attributes among 1.x versions and drops them for 0.x', () => {
    const r = parseResult({
      cniVersion: '1.1.0',
      interfaces: [
        {
          name: 'eth0',
          mac: 'aa:bb:cc:dd:ee:ff',
          mtu: 1400,
          sandbox: '/x',
          socketPath: '/s',
          pciID: '0000:00:01.0',
        },
      ],
      ips: [{ address: '10.1.0.2/16' }],
      routes: [
        { dst: '10.2.0.0/16', gw: '10.1.0.1', mtu: 1300, advmss: 1200, priority: 5, table: 100, scope: 0 },
      ],
    });
    expect(convertResult(r, '1.0.0')).toMatchObject({
      interfaces: [{ mtu: 1400, pciID: '0000:00:01.0' }],
      routes: [{ table: 100 }],
    });
    expect(convertResult(r, '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: 'aa:bb:cc:dd:ee:ff', sandbox: '/x' }],
      ips: [{ version: '4', address: '10.1.0.2/16' }],
      routes: [{ dst: '10.2.0.0/16', gw: '10.1.0.1' }],
      dns: {},
    });
  });

  it('uses the fallback version when the result carries none (embedded prevResult)', () => {
    expect(parseResult({ ips: [{ address: '10.0.0.9/8' }] }, '0.3.1').cniVersion).toBe('0.3.1');
  });

  it('lists the plain addresses', () => {
    expect(resultAddresses(parseResult(modern('1.0.0')))).toEqual(['10.0.0.5', 'fd00::5']);
  });

  const bad: [string, unknown][] = [
    ['not an object', 'x'],
    ['unsupported version', { cniVersion: '0.2.0' }],
    ['address without prefix', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1' }] }],
    ['prefix too long', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/33' }] }],
    [
      'gateway of another family',
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24', gateway: 'fd00::1' }] },
    ],
    [
      'interface index out of range',
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24', interface: 1 }] },
    ],
    ['ips not an array', { cniVersion: '1.0.0', ips: {} }],
    ['route without dst', { cniVersion: '1.0.0', routes: [{ gw: '10.0.0.1' }] }],
    ['interface without name', { cniVersion: '1.0.0', interfaces: [{ mac: 'x' }] }],
    ['dns nameservers not strings', { cniVersion: '1.0.0', dns: { nameservers: [1] } }],
  ];
  for (const [what, value] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => parseResult(value)).toThrow(CniError);
    });
  }
});

describe('versions', () => {
  it('splits CIDRs of both families', () => {
    expect(splitCidr('10.1.2.3/24')).toEqual(['10.1.2.3', 24]);
    expect(splitCidr('fd00::1/64')).toEqual(['fd00::1', 64]);
    expect(() => splitCidr('10.1.2.3/x')).toThrow(/invalid CIDR/);
  });

  it('negotiates the highest shared version not above the wanted one', () => {
    const hostLocal111 = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];
    expect(negotiate('1.1.0', hostLocal111)).toBe('1.0.0');
    expect(negotiate('0.4.0', hostLocal111)).toBe('0.4.0');
    expect(negotiate('0.3.0', ['0.2.0'])).toBeUndefined();
  });

  it('orders versions numerically', () => {
    expect(compareVersions('0.10.0', '0.4.0')).toBe(1);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(() => compareVersions('1.0', '1.0.0')).toThrow(/invalid version/);
  });
});
