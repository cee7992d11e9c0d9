/**
 * `islet install` / `islet uninstall` run as the built binary against fake host roots laid out
 * from real-world files (containerd's bridge + host-local, flannel, Calico, an old `.conf`,
 * kubeadm's kubelet.conf): expected files, idempotence, byte-identical uninstall, crash safety,
 * dry-run.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Pod } from 'kubernetes-models/v1/Pod';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { activeConfigName } from '../../daemonset/installer/conflist.js';
import { STEP_NAMES } from '../../daemonset/installer/install.js';
import { eventually } from '../proxy/harness.js';
import {
  type FakeHost,
  fixture,
  makeHost,
  runIslet,
  snapshotTree,
  type TreeSnapshot,
  testBinary,
} from './host-root.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON, inspected field by field
type Loose = any;

const hosts: FakeHost[] = [];
function host(opts: Parameters<typeof makeHost>[0]): FakeHost {
  const h = makeHost(opts);
  hosts.push(h);
  return h;
}
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

const json = (text: string) => JSON.parse(text) as Record<string, Loose>;
const fixtureJson = (name: string) => json(readFileSync(fixture('cni', name), 'utf8'));

async function install(h: FakeHost, ...extra: string[]) {
  const r = await runIslet(['install', '--root', h.root, '--image', 'registry.local/islet:test', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

async function uninstall(h: FakeHost) {
  const r = await runIslet(['uninstall', '--root', h.root]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

/** Installing again with the same flags changes nothing; uninstall gives back the tree of before. */
async function expectIdempotentThenRestored(h: FakeHost, before: TreeSnapshot, ...flags: string[]) {
  const installed = snapshotTree(h.root);
  const again = await install(h, ...flags);
  expect(snapshotTree(h.root)).toEqual(installed);
  await uninstall(h);
  expect(snapshotTree(h.root)).toEqual(before);
  return again;
}

function expectKubeletRedirected(h: FakeHost): void {
  const original = readFileSync(fixture('kubelet', 'kubelet.conf'), 'utf8');
  // The proxy gets the original kubeconfig, unchanged (its paths are absolute already).
  expect(h.read('/etc/islet/upstream.kubeconfig')).toBe(original);
  const kubelet = parseYaml(h.read('/etc/kubernetes/kubelet.conf'));
  expect(kubelet['current-context']).toBe('system:node:edge-1@kubernetes');
  expect(kubelet.clusters).toEqual([{ name: 'kubernetes', cluster: { server: 'http://127.0.0.1:10261' } }]);
  expect(kubelet.users).toEqual([{ name: 'system:node:edge-1', user: {} }]);
}

function expectStaticPod(h: FakeHost): void {
  const text = h.read('/etc/kubernetes/manifests/islet-proxy.yaml');
  const pod = parseYaml(text);
  new Pod(pod).validate();
  expect(pod.metadata).toMatchObject({ name: 'islet-proxy', namespace: 'kube-system' });
  expect(pod.spec.hostNetwork).toBe(true);
  expect(pod.spec.priorityClassName).toBe('system-node-critical');
  const c = pod.spec.containers[0];
  expect(c.image).toBe('registry.local/islet:test');
  expect(c.command).toEqual([
    '/opt/islet/bin/islet',
    'proxy',
    '--kubeconfig',
    '/etc/islet/upstream.kubeconfig',
    '--listen',
    '127.0.0.1:10261',
    '--admin',
    '127.0.0.1:10267',
    '--cache',
    '/var/lib/islet/cache.db',
    '--link-state',
    '/run/islet/link.json',
  ]);
  const hostPaths = pod.spec.volumes.map((v: Loose) => v.hostPath.path).sort();
  // The node's rotating client certificate lives in /var/lib/kubelet/pki: the proxy must see it.
  expect(hostPaths).toEqual([
    '/etc/islet',
    '/opt/cni/bin/islet',
    '/run/islet',
    '/var/lib/islet',
    '/var/lib/kubelet/pki',
  ]);
}

function expectBinaryInstalled(h: FakeHost): void {
  expect(readFileSync(h.at('/opt/cni/bin/islet')).equals(readFileSync(testBinary()))).toBe(true);
}

describe('islet install on a node with containerd bridge + host-local', () => {
  it('wraps the IPAM (no recorder by default), redirects kubelet, writes the static pod; idempotent; uninstall restores', async () => {
    const h = host({ cni: ['10-containerd-net.conflist', '99-loopback.conf'] });
    const before = snapshotTree(h.root);
    const first = await install(h);
    expect(first.stdout).toContain('updated /etc/cni/net.d/10-containerd-net.conflist');
    expect(first.stdout).toContain(
      'CNI: /etc/cni/net.d/10-containerd-net.conflist: wrapped its host-local IPAM with islet\n',
    );
    expect(first.stdout).toContain('restart kubelet');

    const original = fixtureJson('10-containerd-net.conflist');
    const patched = json(h.read('/etc/cni/net.d/10-containerd-net.conflist'));
    expect(patched.plugins.map((p: Loose) => p.type)).toEqual(['bridge', 'portmap']);
    expect(patched.plugins[1]).toEqual(original.plugins[1]);
    expect(patched.plugins[0].ipam).toEqual({ type: 'islet', delegate: original.plugins[0].ipam });
    expect({ ...patched.plugins[0], ipam: undefined }).toEqual({ ...original.plugins[0], ipam: undefined });
    // Only the active (first by name) configuration is touched.
    expect(h.read('/etc/cni/net.d/99-loopback.conf')).toBe(
      readFileSync(fixture('cni', '99-loopback.conf'), 'utf8'),
    );
    expectBinaryInstalled(h);
    expectKubeletRedirected(h);
    expectStaticPod(h);

    const installed = snapshotTree(h.root);
    const second = await install(h);
    expect(second.stdout).toContain('nothing to change');
    expect(snapshotTree(h.root)).toEqual(installed);

    const un = await uninstall(h);
    expect(un.stdout).toContain('restored /etc/kubernetes/kubelet.conf');
    expect(snapshotTree(h.root)).toEqual(before);
    // Nothing left to undo.
    expect((await runIslet(['uninstall', '--root', h.root])).stdout).toContain('nothing to uninstall');
  });

  it('--host-path-prefix: the static pod mounts from under the prefix, and kubelet watching <prefix>/etc/kubernetes/manifests is redirected', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const prefix = '/srv/node-7';
    mkdirSync(h.at('/var/lib/kubelet'), { recursive: true });
    writeFileSync(
      h.at('/var/lib/kubelet/config.yaml'),
      `kind: KubeletConfiguration\nstaticPodPath: ${prefix}/etc/kubernetes/manifests\n`,
    );
    await install(h, '--host-path-prefix', prefix);
    const pod = parseYaml(h.read('/etc/kubernetes/manifests/islet-proxy.yaml'));
    for (const v of pod.spec.volumes) expect(v.hostPath.path.startsWith(`${prefix}/`)).toBe(true);
    expect(pod.spec.volumes[0].hostPath.path).toBe(`${prefix}/opt/cni/bin/islet`);
    // Inside the container the paths stay the node's.
    expect(pod.spec.containers[0].command).toContain('/etc/islet/upstream.kubeconfig');
    expect(parseYaml(h.read('/etc/kubernetes/kubelet.conf')).clusters[0].cluster.server).toBe(
      'http://127.0.0.1:10261',
    );
    // Without the prefix the same kubelet would not start the proxy: no redirect.
    const plain = host({ cni: ['10-containerd-net.conflist'] });
    mkdirSync(plain.at('/var/lib/kubelet'), { recursive: true });
    copyFileSync(h.at('/var/lib/kubelet/config.yaml'), plain.at('/var/lib/kubelet/config.yaml'));
    const r = await install(plain);
    expect(r.stdout).toContain(`kubelet's staticPodPath is ${prefix}/etc/kubernetes/manifests`);
  });

  it("uninstall removes islet's host directories the DaemonSet's kubelet created empty, keeps ones with files", async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    for (const d of ['/run', '/var/lib']) mkdirSync(h.at(d), { recursive: true });
    const before = snapshotTree(h.root);
    // What kubelet's hostPath DirectoryOrCreate leaves before the init container runs install.
    for (const d of ['/etc/islet', '/run/islet', '/var/lib/islet']) mkdirSync(h.at(d), { recursive: true });
    writeFileSync(h.at('/var/lib/islet/cache.db'), 'the proxy cache');
    await install(h);
    const un = await uninstall(h);
    expect(un.stdout).toContain('removed /etc/islet (empty)');
    expect(un.stdout).toContain('removed /run/islet (empty)');
    expect(h.read('/var/lib/islet/cache.db')).toBe('the proxy cache');
    rmSync(h.at('/var/lib/islet'), { recursive: true });
    expect(snapshotTree(h.root)).toEqual(before);
  });

  it('--dry-run prints a unified diff of every change and changes nothing', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const before = snapshotTree(h.root);
    const r = await install(h, '--dry-run');
    expect(r.stdout).toContain('create /opt/cni/bin/islet (binary,');
    expect(r.stdout).toContain('--- a/etc/kubernetes/kubelet.conf\n+++ b/etc/kubernetes/kubelet.conf\n@@ ');
    expect(r.stdout).toContain('+    server: http://127.0.0.1:10261\n');
    expect(r.stdout).toContain('-    server: https://192.168.56.10:6443\n');
    expect(r.stdout).toContain('--- /dev/null\n+++ b/etc/kubernetes/manifests/islet-proxy.yaml\n@@ -0,0 +1,');
    expect(r.stdout).toContain('+        "type": "islet",\n');
    expect(snapshotTree(h.root)).toEqual(before);

    await install(h);
    const installed = snapshotTree(h.root);
    const again = await install(h, '--dry-run');
    expect(again.stdout).toContain('nothing to change');
    const unDry = await runIslet(['uninstall', '--root', h.root, '--dry-run']);
    expect(unDry.code).toBe(0);
    expect(unDry.stdout).toContain('-    server: http://127.0.0.1:10261\n');
    expect(unDry.stdout).toContain('remove /opt/cni/bin/islet (binary)');
    expect(snapshotTree(h.root)).toEqual(installed);
  });
});

describe('upgrading', () => {
  it('a new binary replaces the old one and restarts the proxy; the first original stays the backup', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const before = snapshotTree(h.root);
    const older = h.at('/older-islet');
    writeFileSync(older, Buffer.concat([readFileSync(testBinary()), Buffer.from('older build')]), {
      mode: 0o755,
    });
    await install(h, '--binary', older);
    const manifest = h.read('/var/lib/islet/backup/manifest.json');
    const oldPod = parseYaml(h.read('/etc/kubernetes/manifests/islet-proxy.yaml'));
    const r = await install(h);
    expect(r.stdout).toBe(
      'updated /opt/cni/bin/islet\nupdated /etc/kubernetes/manifests/islet-proxy.yaml\nCNI: /etc/cni/net.d/10-containerd-net.conflist already uses islet (IPAM wrapper)\n',
    );
    expectBinaryInstalled(h);
    const newPod = parseYaml(h.read('/etc/kubernetes/manifests/islet-proxy.yaml'));
    expect(newPod.metadata.annotations['islet.dev/binary-sha256']).not.toBe(
      oldPod.metadata.annotations['islet.dev/binary-sha256'],
    );
    expect(h.read('/var/lib/islet/backup/manifest.json')).toBe(manifest);
    await uninstall(h);
    const after = snapshotTree(h.root);
    after.delete('older-islet');
    expect(after).toEqual(before);
  });
});

describe('the chained recorder: only when asked, and a rerun converges on what is asked', () => {
  const CONFLIST = '/etc/cni/net.d/10-containerd-net.conflist';
  const types = (h: FakeHost) => json(h.read(CONFLIST)).plugins.map((p: Loose) => p.type);
  /** What a fresh install with these flags writes as the CNI configuration. */
  async function freshConflist(...flags: string[]): Promise<string> {
    const fresh = host({ cni: ['10-containerd-net.conflist'] });
    await install(fresh, ...flags);
    return fresh.read(CONFLIST);
  }

  it('--chain-recorder appends islet last; idempotent; uninstall restores', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const before = snapshotTree(h.root);
    const r = await install(h, '--chain-recorder');
    expect(r.stdout).toContain(
      'CNI: /etc/cni/net.d/10-containerd-net.conflist: wrapped its host-local IPAM with islet; chained islet last as the recorder\n',
    );
    expect(types(h)).toEqual(['bridge', 'portmap', 'islet']);
    expect(json(h.read(CONFLIST)).plugins.at(-1)).toEqual({ type: 'islet' });
    const again = await expectIdempotentThenRestored(h, before, '--chain-recorder');
    expect(again.stdout).toContain(`CNI: ${CONFLIST} already uses islet (IPAM wrapper and chained recorder)`);
  });

  it('chainRecorder in the --config file chains it; --chain-recorder=false on the command line wins', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const config = h.at('/islet-config.yaml');
    writeFileSync(config, 'chainRecorder: true\n');
    await install(h, '--config', config);
    expect(types(h)).toEqual(['bridge', 'portmap', 'islet']);
    await install(h, '--config', config, '--chain-recorder=false');
    expect(types(h)).toEqual(['bridge', 'portmap']);
    writeFileSync(config, 'chainRecorder: false\n');
    await install(h, '--config', config, '--chain-recorder');
    expect(types(h)).toEqual(['bridge', 'portmap', 'islet']);
  });

  it('a chainRecorder that is not a boolean is a usage error, nothing changed', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const config = h.at('/islet-config.yaml');
    writeFileSync(config, 'chainRecorder: yes\n');
    const before = snapshotTree(h.root);
    const r = await runIslet(['install', '--root', h.root, '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`islet: --config ${config}: "chainRecorder" must be true or false\n`);
    expect(snapshotTree(h.root)).toEqual(before);
  });

  // The previous release always chained the recorder: its node is what --chain-recorder writes
  // (the same patch, the same backup record).
  it('a node installed with wrapper + recorder: a default rerun removes the recorder, keeps the first backup, uninstall restores', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const before = snapshotTree(h.root);
    await install(h, '--chain-recorder');
    expect(types(h)).toEqual(['bridge', 'portmap', 'islet']);
    const manifest = h.read('/var/lib/islet/backup/manifest.json');
    const backups = readdirSync(h.at('/var/lib/islet/backup/files')).sort();

    const upgraded = snapshotTree(h.root);
    const dry = await install(h, '--dry-run');
    expect(dry.stdout).toBe(
      [
        `--- a${CONFLIST}`,
        `+++ b${CONFLIST}`,
        '@@ -40,9 +40,6 @@',
        '       "capabilities": {',
        '         "portMappings": true',
        '       }',
        '-    },',
        '-    {',
        '-      "type": "islet"',
        '     }',
        '   ]',
        ' }',
        `note: CNI: ${CONFLIST}: removed the chained recorder (islet install --chain-recorder keeps it)`,
        '',
      ].join('\n'),
    );
    expect(snapshotTree(h.root)).toEqual(upgraded);

    const r = await install(h);
    expect(r.stdout).toBe(
      `updated ${CONFLIST}\nCNI: ${CONFLIST}: removed the chained recorder (islet install --chain-recorder keeps it)\n`,
    );
    expect(h.read(CONFLIST)).toBe(await freshConflist());
    // The original recorded by the first install stays the backup: nothing new was recorded.
    expect(h.read('/var/lib/islet/backup/manifest.json')).toBe(manifest);
    expect(readdirSync(h.at('/var/lib/islet/backup/files')).sort()).toEqual(backups);
    const converged = snapshotTree(h.root);
    expect((await install(h)).stdout).toContain('nothing to change');
    expect(snapshotTree(h.root)).toEqual(converged);

    // And back: asked again, the recorder is chained again, exactly as a fresh install does it.
    await install(h, '--chain-recorder');
    expect(h.read(CONFLIST)).toBe(await freshConflist('--chain-recorder'));
    expect(h.read('/var/lib/islet/backup/manifest.json')).toBe(manifest);

    await uninstall(h);
    expect(snapshotTree(h.root)).toEqual(before);
  });

  it.each(['cni-config:backup', 'cni-config'])(
    'removing the recorder killed after %s: the conflist is the old or the new one, a rerun converges, uninstall restores',
    async (point) => {
      const h = host({ cni: ['10-containerd-net.conflist'] });
      const before = snapshotTree(h.root);
      await install(h, '--chain-recorder');
      const chained = h.read(CONFLIST);
      const crashed = await runIslet(['install', '--root', h.root, '--image', 'registry.local/islet:test'], {
        ISLET_INSTALL_CRASH_AFTER: point,
      });
      expect(crashed.signal).toBe('SIGKILL');
      expect(h.read(CONFLIST)).toBe(point === 'cni-config' ? await freshConflist() : chained);
      await install(h);
      expect(h.read(CONFLIST)).toBe(await freshConflist());
      await uninstall(h);
      expect(snapshotTree(h.root)).toEqual(before);
    },
  );
});

describe('islet install --watch', () => {
  it('re-wraps a CNI configuration the network plugin rewrote, and is quiet otherwise', async () => {
    const h = host({ cni: ['10-flannel.conflist'] });
    const child = spawn(testBinary(), ['install', '--root', h.root, '--watch', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const conflist = '/etc/cni/net.d/10-flannel.conflist';
    const wrapped = () => json(h.read(conflist)).plugins[0].delegate.ipam?.type === 'islet';
    try {
      await eventually('the first install', () => out.includes(`updated ${conflist}`));
      const installed = snapshotTree(h.root);
      // What is checked is that nothing happens: the watcher logs nothing while it finds nothing
      // to do, so two and a half of its 1 s intervals pass, after which nothing was written again.
      await new Promise((r) => setTimeout(r, 2500));
      expect(snapshotTree(h.root)).toEqual(installed);
      expect(out.match(/updated /g)).toHaveLength(2);
      // flannel's install-cni copies its stock configuration back when its pod restarts.
      copyFileSync(fixture('cni', '10-flannel.conflist'), h.at(conflist));
      expect(wrapped()).toBe(false);
      await eventually('the configuration wrapped again', wrapped);
      expect(snapshotTree(h.root)).toEqual(installed);
      expect(out.match(new RegExp(`updated ${conflist}`, 'g'))).toHaveLength(2);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('islet install on other networks', () => {
  it("flannel: puts an islet IPAM around host-local into flannel's delegate", async () => {
    const h = host({ cni: ['10-flannel.conflist'] });
    const before = snapshotTree(h.root);
    await install(h);
    const patched = json(h.read('/etc/cni/net.d/10-flannel.conflist'));
    expect(patched.plugins.map((p: Loose) => p.type)).toEqual(['flannel', 'portmap']);
    expect(patched.plugins[0].delegate).toEqual({
      hairpinMode: true,
      isDefaultGateway: true,
      ipam: { type: 'islet', delegate: { type: 'host-local' } },
    });
    await expectIdempotentThenRestored(h, before);
  });

  it('calico: leaves the conflist untouched with a clear message, still installs the proxy', async () => {
    const h = host({ cni: ['10-calico.conflist'] });
    const before = snapshotTree(h.root);
    const r = await install(h);
    expect(r.stdout).toMatch(/10-calico\.conflist left untouched: Calico allocates through calico-ipam/);
    expect(r.stdout).toContain('The proxy is installed all the same');
    expect(h.read('/etc/cni/net.d/10-calico.conflist')).toBe(
      readFileSync(fixture('cni', '10-calico.conflist'), 'utf8'),
    );
    expectKubeletRedirected(h);
    expectStaticPod(h);
    await uninstall(h);
    expect(snapshotTree(h.root)).toEqual(before);
  });

  it('single-plugin .conf: upgraded to a .conflist that the runtime picks, the original moved aside', async () => {
    const h = host({ cni: ['99-loopback.conf'] });
    const before = snapshotTree(h.root);
    const r = await install(h);
    expect(r.stdout).toContain(
      'moved /etc/cni/net.d/99-loopback.conf to /etc/cni/net.d/99-loopback.conf.islet-orig',
    );
    const names = readdirSync(h.at('/etc/cni/net.d')).sort();
    expect(names).toEqual(['99-loopback.conf.islet-orig', '99-loopback.conflist']);
    expect(activeConfigName(names)).toBe('99-loopback.conflist');
    const original = fixtureJson('99-loopback.conf');
    expect(h.read('/etc/cni/net.d/99-loopback.conf.islet-orig')).toBe(
      readFileSync(fixture('cni', '99-loopback.conf'), 'utf8'),
    );
    const list = json(h.read('/etc/cni/net.d/99-loopback.conflist'));
    expect(list.cniVersion).toBe(original.cniVersion);
    expect(list.name).toBe(original.name);
    expect(list.plugins).toEqual([
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        ipam: { type: 'islet', delegate: original.ipam },
      },
    ]);
    await expectIdempotentThenRestored(h, before);
  });

  it('--config adds plugin fields to wrapper and recorder and proxy flags to the static pod', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'] });
    const config = h.at('/islet-config.yaml');
    writeFileSync(config, 'plugin:\n  snapshotTTL: 48h\nproxy:\n  args: [--exclude-secrets]\n');
    await install(h, '--config', config, '--chain-recorder');
    const patched = json(h.read('/etc/cni/net.d/10-containerd-net.conflist'));
    expect(patched.plugins[0].ipam).toMatchObject({ type: 'islet', snapshotTTL: '48h' });
    expect(patched.plugins.at(-1)).toEqual({ type: 'islet', snapshotTTL: '48h' });
    const pod = parseYaml(h.read('/etc/kubernetes/manifests/islet-proxy.yaml'));
    expect(pod.spec.containers[0].command.at(-1)).toBe('--exclude-secrets');
  });
});

describe("kubeconfigs other than kubeadm's", () => {
  it("relative credential paths become absolute in the proxy's copy, and their directory is mounted", async () => {
    const h = host({ cni: [], kubelet: false });
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: edge',
      '  cluster:',
      '    server: https://10.0.0.1:6443',
      '    certificate-authority: pki/ca.crt',
      'users:',
      '- name: kubelet',
      '  user:',
      '    client-certificate: pki/kubelet.crt',
      '    client-key: pki/kubelet.key',
      'contexts:',
      '- name: default',
      '  context:',
      '    cluster: edge',
      '    user: kubelet',
      'current-context: default',
      '',
    ].join('\n');
    writeFileSync(h.at('/etc/kubernetes/kubelet.conf'), kubeconfig, { mode: 0o600 });
    const r = await install(h);
    expect(r.stdout).toContain('CNI: no configuration in /etc/cni/net.d yet');
    const upstream = parseYaml(h.read('/etc/islet/upstream.kubeconfig'));
    expect(upstream.clusters[0].cluster).toEqual({
      server: 'https://10.0.0.1:6443',
      'certificate-authority': '/etc/kubernetes/pki/ca.crt',
    });
    expect(upstream.users[0].user).toEqual({
      'client-certificate': '/etc/kubernetes/pki/kubelet.crt',
      'client-key': '/etc/kubernetes/pki/kubelet.key',
    });
    const kubelet = parseYaml(h.read('/etc/kubernetes/kubelet.conf'));
    expect(kubelet.clusters[0].cluster).toEqual({ server: 'http://127.0.0.1:10261' });
    expect(kubelet.users[0].user).toEqual({});
    const pod = parseYaml(h.read('/etc/kubernetes/manifests/islet-proxy.yaml'));
    expect(pod.spec.volumes.map((v: Loose) => v.hostPath.path)).toContain('/etc/kubernetes/pki');
  });
});

describe('islet install is crash-safe', () => {
  // The .conf host goes through every step, the aside rename included.
  const points = STEP_NAMES.flatMap((s) => [`${s}:backup`, s]);

  let complete: TreeSnapshot;
  beforeAll(async () => {
    const reference = makeHost({ cni: ['99-loopback.conf'] });
    try {
      await install(reference);
      complete = snapshotTree(reference.root);
    } finally {
      reference.cleanup();
    }
  });

  it.each(points)('killed after %s: a rerun completes exactly, uninstall restores', async (point) => {
    const h = host({ cni: ['99-loopback.conf'] });
    const before = snapshotTree(h.root);
    const crashed = await runIslet(['install', '--root', h.root, '--image', 'registry.local/islet:test'], {
      ISLET_INSTALL_CRASH_AFTER: point,
    });
    expect(crashed.signal).toBe('SIGKILL');

    // Uninstall straight after the crash restores the original.
    const partial = host({ cni: ['99-loopback.conf'] });
    const partialCrash = await runIslet(
      ['install', '--root', partial.root, '--image', 'registry.local/islet:test'],
      {
        ISLET_INSTALL_CRASH_AFTER: point,
      },
    );
    expect(partialCrash.signal).toBe('SIGKILL');
    await uninstall(partial);
    expect(snapshotTree(partial.root)).toEqual(before);

    await install(h);
    expect(snapshotTree(h.root)).toEqual(complete);
    await uninstall(h);
    expect(snapshotTree(h.root)).toEqual(before);
  });
});

describe('bad input', () => {
  it('a malformed active CNI configuration: clear error, nothing changed', async () => {
    const h = host({ cni: [] });
    writeFileSync(h.at('/etc/cni/net.d/10-broken.conflist'), '{"name": "x", "plugins": [');
    const before = snapshotTree(h.root);
    const r = await runIslet(['install', '--root', h.root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^islet: 10-broken\.conflist: not valid JSON/);
    expect(snapshotTree(h.root)).toEqual(before);
  });

  it('a missing kubelet kubeconfig: clear error, nothing changed', async () => {
    const h = host({ cni: ['10-containerd-net.conflist'], kubelet: false });
    const before = snapshotTree(h.root);
    const r = await runIslet(['install', '--root', h.root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('islet: kubelet kubeconfig /etc/kubernetes/kubelet.conf does not exist\n');
    expect(snapshotTree(h.root)).toEqual(before);
  });

  it('unknown flags and relative host paths are usage errors', async () => {
    const h = host({ cni: [] });
    const unknown = await runIslet(['install', '--root', h.root, '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('islet: unknown flag --bogus\n');
    const relative = await runIslet(['install', '--root', h.root, '--bin-dir', 'opt/cni/bin']);
    expect(relative.code).toBe(2);
    expect(relative.stderr).toContain('--bin-dir must be an absolute path');
  });
});
