/**
 * `islet install` runs the plugin binary as a runtime would (CNI_COMMAND=VERSION) from where it
 * installs it, before it changes anything: a binary that cannot run there leaves the node exactly
 * as it was (no CNI configuration naming it, no kubelet pointed at a proxy that cannot start).
 * And kubelet is pointed at the proxy only once the proxy's static pod manifest is in place.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeHost, fixture, makeHost, runIslet, snapshotTree, testBinary } from './host-root.js';

const hosts: FakeHost[] = [];
const mounts: string[] = [];
function host(): FakeHost {
  const h = makeHost({ cni: ['10-containerd-net.conflist'] });
  hosts.push(h);
  return h;
}
afterEach(() => {
  for (const m of mounts.splice(0).reverse()) execFileSync('umount', ['-l', m]);
  for (const h of hosts.splice(0)) h.cleanup();
});

const CONFLIST = '/etc/cni/net.d/10-containerd-net.conflist';
const KUBECONFIG = '/etc/kubernetes/kubelet.conf';
const INSTALL = ['--image', 'registry.local/islet:test'];

function script(h: FakeHost, name: string, body: string): string {
  const p = h.at(`/${name}`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

/** /bin/true with its ELF header or program interpreter changed: another machine's binary. */
function elfVariant(h: FakeHost, name: string, change: (bytes: Buffer) => void): string {
  const bytes = readFileSync('/bin/true');
  change(bytes);
  const p = h.at(`/${name}`);
  writeFileSync(p, bytes, { mode: 0o755 });
  return p;
}

async function expectRefused(h: FakeHost, args: string[], reason: string | RegExp) {
  const before = snapshotTree(h.root);
  const conflist = readFileSync(h.at(CONFLIST));
  const kubeconfig = readFileSync(h.at(KUBECONFIG));
  const r = await runIslet(['install', '--root', h.root, ...INSTALL, ...args]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^islet: \/opt\/cni\/bin\/islet would not work as this host's CNI plugin: /);
  expect(r.stderr).toMatch(reason);
  expect(r.stderr).toContain('Nothing was changed.');
  expect(readFileSync(h.at(CONFLIST)).equals(conflist)).toBe(true);
  expect(readFileSync(h.at(KUBECONFIG)).equals(kubeconfig)).toBe(true);
  expect(snapshotTree(h.root)).toEqual(before);
}

describe('islet install with a plugin binary that does not run on the host', () => {
  it('exits with an error: nothing is changed, byte for byte', async () => {
    const h = host();
    const failing = script(h, 'failing-islet', 'echo "cannot load libstdc++.so.6" >&2\nexit 127');
    await expectRefused(
      h,
      ['--binary', failing],
      /it exited with status 127: cannot load libstdc\+\+\.so\.6/,
    );
  });

  it('prints something other than a CNI VERSION answer', async () => {
    const h = host();
    const chatty = script(h, 'chatty-islet', 'echo hello');
    await expectRefused(h, ['--binary', chatty], /it printed "hello\\n", not a CNI VERSION answer/);
  });

  it('built for another architecture', async () => {
    const h = host();
    // e_machine = 183 (AArch64) on this x86-64 host, or 62 (x86-64) elsewhere.
    const other = elfVariant(h, 'arm-islet', (b) =>
      b.writeUInt16LE(b.readUInt16LE(18) === 62 ? 183 : 62, 18),
    );
    await expectRefused(h, ['--binary', other], /it is built for (arm64|x64), this host is .* \(ENOEXEC\)/);
  });

  it('linked against a libc the host does not have', async () => {
    const h = host();
    const musl = elfVariant(h, 'musl-islet', (b) => {
      const at = b.indexOf('/lib64/ld-linux-x86-64.so.2');
      expect(at).toBeGreaterThan(0);
      b.write('/lib/ld-musl-x86_64.so.1\0\0\0', at, 'latin1');
    });
    await expectRefused(h, ['--binary', musl], /it or its program interpreter is missing \(ENOENT\)/);
  });

  it.skipIf(process.getuid?.() !== 0)('the CNI binary directory is mounted noexec', async () => {
    const h = host();
    const bin = h.at('/opt/cni/bin');
    mkdirSync(bin, { recursive: true });
    execFileSync('mount', ['--bind', bin, bin]);
    mounts.push(bin);
    execFileSync('mount', ['-o', 'remount,bind,noexec', bin]);
    await expectRefused(h, [], /it may not be executed there .*\(EACCES\)/);
  });

  it('an upgrade to a binary that does not run keeps the working one', async () => {
    const h = host();
    const first = await runIslet(['install', '--root', h.root, ...INSTALL]);
    expect(first.code, first.stderr).toBe(0);
    const failing = script(h, 'failing-islet', 'exit 1');
    await expectRefused(h, ['--binary', failing], /it exited with status 1/);
    expect(readFileSync(h.at('/opt/cni/bin/islet')).equals(readFileSync(testBinary()))).toBe(true);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'an installed binary that stopped running (directory remounted noexec) blocks a re-wrap',
    async () => {
      const h = host();
      const first = await runIslet(['install', '--root', h.root, ...INSTALL]);
      expect(first.code, first.stderr).toBe(0);
      // The network plugin wrote its stock configuration back, and the host remounted the binary's directory.
      writeFileSync(h.at(CONFLIST), readFileSync(fixture('cni', '10-containerd-net.conflist')));
      const bin = h.at('/opt/cni/bin');
      execFileSync('mount', ['--bind', bin, bin]);
      mounts.push(bin);
      execFileSync('mount', ['-o', 'remount,bind,noexec', bin]);
      await expectRefused(h, [], /it may not be executed there .*\(EACCES\)/);
    },
  );
});

describe('the kubelet redirect comes after the static pod', () => {
  it('killed just before the redirect: the manifest is already in place, kubelet still talks to the API server', async () => {
    const h = host();
    const kubeconfig = readFileSync(h.at(KUBECONFIG));
    const r = await runIslet(['install', '--root', h.root, ...INSTALL], {
      ISLET_INSTALL_CRASH_AFTER: 'kubelet-kubeconfig:backup',
    });
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(h.at('/etc/kubernetes/manifests/islet-proxy.yaml'))).toBe(true);
    expect(readFileSync(h.at(KUBECONFIG)).equals(kubeconfig)).toBe(true);
  });

  it('kubelet that does not start static pods from the manifest directory is not redirected', async () => {
    const h = host();
    mkdirSync(h.at('/var/lib/kubelet'), { recursive: true });
    writeFileSync(
      h.at('/var/lib/kubelet/config.yaml'),
      'kind: KubeletConfiguration\nstaticPodPath: /etc/kubelet.d\n',
    );
    const kubeconfig = readFileSync(h.at(KUBECONFIG));
    const r = await runIslet(['install', '--root', h.root, ...INSTALL]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "kubelet: kubelet's staticPodPath is /etc/kubelet.d, not /etc/kubernetes/manifests; run islet install --manifests-dir /etc/kubelet.d; /etc/kubernetes/kubelet.conf still points at the API server until then",
    );
    expect(readFileSync(h.at(KUBECONFIG)).equals(kubeconfig)).toBe(true);
    // With the right directory the redirect follows.
    const again = await runIslet([
      'install',
      '--root',
      h.root,
      ...INSTALL,
      '--manifests-dir',
      '/etc/kubelet.d',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(h.at('/etc/kubelet.d/islet-proxy.yaml'))).toBe(true);
    expect(h.read(KUBECONFIG)).toContain('server: http://127.0.0.1:10261');
  });
});
