import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ProxyConfig, parseDuration, parseProxyArgs, parseQuantity } from './cli.js';
import { loadKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'islet-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function parsed(argv: string[]): ProxyConfig {
  const c = parseProxyArgs(argv);
  if (c === 'help') throw new Error('help');
  return c;
}

describe('islet proxy flags', () => {
  it('has the documented defaults', () => {
    const c = parsed(['--server', 'https://10.0.0.1:6443']);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 10261 });
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 10267 });
    expect(c.cachePath).toBe('/var/lib/islet/cache.db');
    expect(c.linkStatePath).toBe('/run/islet/link.json');
    expect(c.lb).toBe('priority');
    expect(c.offlineAfter).toBe(3);
    expect(c.onlineAfter).toBe(2);
    expect(c.probeIntervalMs).toBe(5000);
  });

  it('takes repeated servers in priority order and durations with units', () => {
    const c = parsed([
      '--server=https://a:6443',
      '--server',
      'https://b:6443',
      '--probe-interval',
      '250ms',
      '--lb',
      'rtt',
      '--admin',
      'off',
    ]);
    expect(c.upstream.servers).toEqual(['https://a:6443', 'https://b:6443']);
    expect(c.probeIntervalMs).toBe(250);
    expect(c.lb).toBe('rtt');
    expect(c.admin).toBeUndefined();
    expect(parseDuration('1m', 'x')).toBe(60_000);
  });

  it('refuses bad input with exact messages', () => {
    expect(() => parsed([])).toThrow('no upstream: give --server URL or --kubeconfig FILE');
    expect(() => parsed(['--server', 'ftp://x'])).toThrow('must be an http:// or https:// URL');
    expect(() => parsed(['--server', 'https://a', '--lb', 'random'])).toThrow('--lb: "random" is not one of');
    expect(() => parsed(['--server', 'https://a', '--probe-interval', '5'])).toThrow(
      '--probe-interval: missing unit in duration "5"',
    );
    expect(() => parsed(['--server', 'https://a', '--cert', '/x'])).toThrow('--cert and --key go together');
    expect(() => parsed(['--server', 'https://a', '--listen', '0.0.0.0:10261'])).toThrow(
      '--allow-non-loopback',
    );
    expect(
      parsed(['--server', 'https://a', '--listen', '0.0.0.0:1', '--allow-non-loopback']).listen.host,
    ).toBe('0.0.0.0');
    expect(() => parsed(['--server', 'https://a', '--admin', '10.0.0.5:10267'])).toThrow(
      '--admin 10.0.0.5: the admin listener shows anyone the node, its upstreams and its cache (/metrics); bind it to loopback or pass --allow-non-loopback',
    );
    expect(parsed(['--server', 'https://a', '--admin', '[::]:1', '--allow-non-loopback']).admin?.host).toBe(
      '::',
    );
    expect(() =>
      parsed(['--server', 'https://a', '--https-listen', '0.0.0.0:1', '--tls-cert', '/x', '--tls-key', '/y']),
    ).toThrow('--https-listen 0.0.0.0: the HTTPS listener takes token clients');
    expect(() => parsed(['--server', 'https://a', '--https-listen', '127.0.0.1:0'])).toThrow(
      '--https-listen needs --tls-cert and --tls-key',
    );
    expect(() => parsed(['--server', 'https://a', '--offline-after', '0'])).toThrow('not a positive integer');
    expect(() => parsed(['--bogus'])).toThrow('unknown flag --bogus');
    expect(parseProxyArgs(['--help'])).toBe('help');
  });

  it('reads server, CA and client cert from a kubeconfig, relative paths against its directory', () => {
    const file = join(dir, 'kubelet.conf');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: default',
        '  cluster:',
        '    server: https://10.0.0.1:6443',
        `    certificate-authority-data: ${Buffer.from('CA').toString('base64')}`,
        'users:',
        '- name: node',
        '  user:',
        '    client-certificate: pki/kubelet-client-current.pem',
        '    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem',
        'contexts:',
        '- name: ctx',
        '  context: {cluster: default, user: node}',
        'current-context: ctx',
      ].join('\n'),
    );
    const k = loadKubeconfig(file);
    expect(k.servers).toEqual(['https://10.0.0.1:6443']);
    expect(k.caData?.toString()).toBe('CA');
    expect(k.certFile).toBe(join(dir, 'pki/kubelet-client-current.pem'));
    expect(k.keyFile).toBe('/var/lib/kubelet/pki/kubelet-client-current.pem');
    const c = parsed(['--kubeconfig', file, '--server', 'https://10.0.0.2:6443']);
    expect(c.upstream.servers).toEqual(['https://10.0.0.2:6443']);
    expect(c.upstream.certFile).toBe(k.certFile);
    writeFileSync(join(dir, 'broken.conf'), 'current-context: nope\ncontexts: []\n');
    expect(() => loadKubeconfig(join(dir, 'broken.conf'))).toThrow('context "nope" not found');
  });

  it('bounds watch memory by a Kubernetes quantity, a per-identity cap and a grace period', () => {
    const d = parsed(['--server', 'https://a']);
    expect(d.memoryBudgetBytes).toBe(256 * 2 ** 20);
    expect(d.maxWatchesPerIdentity).toBe(200);
    expect(d.watchGraceMs).toBe(60_000);
    const c = parsed(
      ['--server', 'https://a', '--memory-budget=1.5Gi', '--max-watches-per-identity', '50'].concat([
        '--watch-grace',
        '5s',
      ]),
    );
    expect(c.memoryBudgetBytes).toBe(1.5 * 2 ** 30);
    expect(c.maxWatchesPerIdentity).toBe(50);
    expect(c.watchGraceMs).toBe(5000);
    expect(parseQuantity('500M', 'x')).toBe(500e6);
    expect(parseQuantity('268435456', 'x')).toBe(2 ** 28);
    expect(() => parsed(['--server', 'https://a', '--memory-budget', '256MB'])).toThrow(
      '--memory-budget: "256MB" is not a quantity',
    );
    expect(() => parsed(['--server', 'https://a', '--memory-budget', '1Mi'])).toThrow('at least 16Mi');
    expect(() => parsed(['--server', 'https://a', '--max-watches-per-identity', '0'])).toThrow(
      'not a positive integer',
    );
  });
});
