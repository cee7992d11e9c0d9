/**
 * `islet doctor` on a healthy fake node (installed by islet install, a snapshot database written by
 * the plugin itself, the real proxy running against the API simulator with kubectl having read
 * through it) and on broken ones: the right findings, --json, exit codes.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../free-port.js';
import { eventually, Kubectl, type RunningProxy, startProxy } from '../proxy/harness.js';
import { type Simulator, startSimulator } from '../sim/index.js';
import { type FakeHost, fixture, makeHost, runIslet } from './host-root.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON, inspected field by field
type Loose = any;

const CNI_PLUGINS = process.env.ISLET_CNI_PLUGINS ?? '/usr/lib/cni';

interface Finding {
  id: string;
  status: 'ok' | 'info' | 'warn' | 'fail';
  summary: string;
  data?: Loose;
}

async function doctor(h: FakeHost, adminUrl: string, ...extra: string[]) {
  const r = await runIslet(['doctor', '--root', h.root, '--json', '--admin', adminUrl, ...extra]);
  const report = JSON.parse(r.stdout) as { healthy: boolean; findings: Finding[] };
  const byId = new Map(report.findings.map((f) => [f.id, f]));
  return { ...r, report, byId };
}

/** An ADD through the real plugin (IPAM wrapper around Debian's host-local): writes the snapshot DB. */
async function pluginAdd(h: FakeHost, pod: string): Promise<void> {
  const conf = JSON.parse(h.read('/etc/cni/net.d/10-containerd-net.conflist'));
  const bridge = conf.plugins[0];
  // The IPAM role gets the parent's config; host-local's state goes into the fake root.
  bridge.ipam.database = h.at('/var/lib/islet/ipam.db');
  bridge.ipam.delegate = {
    type: 'host-local',
    ranges: [[{ subnet: '10.88.0.0/16' }]],
    dataDir: h.at('/var/lib/cni/networks'),
  };
  const stdin = JSON.stringify({ cniVersion: conf.cniVersion, name: conf.name, ...bridge });
  const r = await runIslet(
    [],
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: `c-${pod}`,
      CNI_NETNS: `/proc/${process.pid}/ns/net`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: h.at('/opt/cni/bin'),
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};K8S_POD_UID=uid-${pod}`,
    },
    h.at('/opt/cni/bin/islet'),
    stdin,
  );
  if (r.code !== 0) throw new Error(`plugin ADD failed (${r.code}): ${r.stdout} ${r.stderr}`);
}

describe('doctor on a healthy node', () => {
  let h: FakeHost;
  let sim: Simulator;
  let proxy: RunningProxy;
  let listen: string;

  beforeAll(async () => {
    h = makeHost({ cni: ['10-containerd-net.conflist'] });
    // The proxy address kubelet is pointed at, and where doctor reads the node through the proxy.
    listen = `127.0.0.1:${await freePort()}`;
    const install = await runIslet(['install', '--root', h.root, '--listen', listen]);
    expect(install.code).toBe(0);
    for (const p of ['bridge', 'host-local']) copyFileSync(join(CNI_PLUGINS, p), h.at(`/opt/cni/bin/${p}`));
    await pluginAdd(h, 'web-1');
    await pluginAdd(h, 'web-2');

    sim = await startSimulator();
    sim.create('nodes', {
      metadata: { name: 'edge-1', annotations: { 'islet.dev/autonomy-duration': '24h' } },
    });
    sim.create('nodes', { metadata: { name: 'edge-2' } });
    sim.create('pods', {
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { nodeName: 'edge-1', containers: [{ name: 'c', image: 'nginx' }] },
    });
    const cert = await sim.mintClientCert('edge-1');
    const upstream = await sim.writeKubeconfig({ cert, path: join(h.root, 'sim.kubeconfig') });
    proxy = await startProxy([
      '--kubeconfig',
      upstream,
      '--listen',
      listen,
      '--admin',
      '127.0.0.1:0',
      '--cache',
      h.at('/var/lib/islet/cache.db'),
      '--link-state',
      h.at('/run/islet/link.json'),
    ]);
    const kubectl = new Kubectl(h.root, proxy.url);
    await eventually(
      'pods listed through the proxy',
      () => kubectl.json(['get', 'pods', '-A']),
      (l) => l.items.length === 1,
    );
  });

  afterAll(async () => {
    await proxy?.stop();
    await sim?.close();
    h?.cleanup();
  });

  it('reports every check ok (the recorder, not chained by default, as information) and exits 0', async () => {
    const r = await eventually(
      'a cache that lists pods',
      () => doctor(h, proxy.adminUrl, '--proxy-url', `http://${listen}`, '--node-name', 'edge-1'),
      (d) => d.byId.get('cache')?.data?.resources?.pods?.objects > 0,
    );
    expect(r.code).toBe(0);
    expect(r.report.healthy).toBe(true);
    expect(r.report.findings.map((f) => [f.id, f.status])).toEqual([
      ['plugin-binary', 'ok'],
      ['cni-config', 'ok'],
      ['cni-recorder', 'info'],
      ['main-plugin-binary', 'ok'],
      ['delegate-binary', 'ok'],
      ['snapshot-db', 'ok'],
      ['proxy', 'ok'],
      ['cache', 'ok'],
      ['link-state', 'ok'],
      ['kubelet-kubeconfig', 'ok'],
      ['static-pod', 'ok'],
      ['autonomy', 'ok'],
    ]);
    expect(r.byId.get('autonomy')!.data).toEqual({ node: 'edge-1', autonomous: true, seconds: 86400 });
    const db = r.byId.get('snapshot-db')!;
    expect(db.data.tables.snapshots).toMatchObject({ rows: 2, byState: { live: 2 } });
    expect(r.byId.get('cni-config')!.data).toMatchObject({
      wrapper: true,
      recorder: false,
      delegateType: 'host-local',
    });
    expect(r.byId.get('cni-recorder')).toMatchObject({
      summary:
        '/etc/cni/net.d/10-containerd-net.conflist: no chained recorder (not needed to keep IPs; islet install --chain-recorder adds it for CNI CHECK)',
      data: { present: false },
    });
    expect(r.byId.get('link-state')!.data.state).toBe('online');
  });

  it('warns when the cloud would evict the node\u2019s pods during an outage', async () => {
    const r = await doctor(h, proxy.adminUrl, '--proxy-url', `http://${listen}`, '--node-name', 'edge-2');
    const a = r.byId.get('autonomy')!;
    expect(a.status).toBe('warn');
    expect(a.summary).toContain('node edge-2 is not autonomous');
    expect(r.code).toBe(0);
  });

  it('prints a readable report without --json', async () => {
    const r = await runIslet([
      'doctor',
      '--root',
      h.root,
      '--admin',
      proxy.adminUrl,
      '--proxy-url',
      `http://${listen}`,
      '--node-name',
      'edge-1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[ok  ] snapshot-db: /var/lib/islet/ipam.db ok: ');
    expect(r.stdout).toContain(
      '[info] cni-recorder: /etc/cni/net.d/10-containerd-net.conflist: no chained recorder',
    );
    expect(r.stdout).toMatch(/node autonomy: ready\n$/);
  });

  it('sees the link go offline when the cloud disappears (warning, still ready)', async () => {
    await sim.partition('refuse');
    try {
      const r = await eventually(
        'link state offline',
        () => doctor(h, proxy.adminUrl, '--proxy-url', `http://${listen}`, '--node-name', 'edge-1'),
        (d) => d.byId.get('link-state')?.data?.state === 'offline',
        60_000,
      );
      expect(r.byId.get('link-state')!.status).toBe('warn');
      expect(r.code).toBe(0);
    } finally {
      await sim.heal();
    }
  });
});

describe('doctor on broken nodes', () => {
  it('a node islet was never installed on: every failure named, exit 1', async () => {
    const h = makeHost({ cni: [] });
    try {
      // Port 9 (discard): nothing answers there, neither as admin endpoint nor as proxy.
      const r = await doctor(h, 'http://127.0.0.1:9', '--proxy-url', 'http://127.0.0.1:9');
      expect(r.code).toBe(1);
      expect(r.report.healthy).toBe(false);
      expect(Object.fromEntries([...r.byId].map(([id, f]) => [id, f.status]))).toEqual({
        'plugin-binary': 'fail',
        'cni-config': 'fail',
        'snapshot-db': 'warn',
        proxy: 'fail',
        'link-state': 'fail',
        'kubelet-kubeconfig': 'fail',
        'static-pod': 'fail',
        autonomy: 'warn',
      });
      expect(r.byId.get('kubelet-kubeconfig')!.summary).toContain('points at https://192.168.56.10:6443');
      const text = await runIslet([
        'doctor',
        '--root',
        h.root,
        '--admin',
        'http://127.0.0.1:9',
        '--proxy-url',
        'http://127.0.0.1:9',
      ]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('[FAIL] plugin-binary: /opt/cni/bin/islet is missing');
      expect(text.stdout).toMatch(/node autonomy: NOT ready \(6 problems, 2 warnings\)/);
    } finally {
      h.cleanup();
    }
  });

  it('an installed node gone wrong: reverted conflist, missing delegate, damaged DB, stale link state', async () => {
    const h = makeHost({ cni: ['10-containerd-net.conflist'] });
    try {
      expect((await runIslet(['install', '--root', h.root])).code).toBe(0);
      copyFileSync(join(CNI_PLUGINS, 'bridge'), h.at('/opt/cni/bin/bridge'));
      // The network plugin rewrote its configuration on restart, undoing the patch.
      copyFileSync(
        fixture('cni', '10-containerd-net.conflist'),
        h.at('/etc/cni/net.d/10-containerd-net.conflist'),
      );
      writeFileSync(h.at('/var/lib/islet/ipam.db'), Buffer.alloc(8192, 0x41));
      const old = new Date(Date.now() - 10 * 60_000).toISOString();
      mkdirSync(h.at('/run/islet'), { recursive: true });
      writeFileSync(
        h.at('/run/islet/link.json'),
        JSON.stringify({
          state: 'online',
          since: old,
          checkedAt: old,
          upstream: 'https://192.168.56.10:6443',
        }),
      );
      const r = await doctor(h, 'http://127.0.0.1:9');
      expect(r.code).toBe(1);
      expect(r.byId.get('plugin-binary')!.status).toBe('ok');
      expect(r.byId.get('cni-config')).toMatchObject({ status: 'fail' });
      expect(r.byId.get('cni-config')!.summary).toBe(
        '/etc/cni/net.d/10-containerd-net.conflist: islet IPAM wrapper missing',
      );
      expect(r.byId.get('cni-recorder')).toMatchObject({ status: 'info', data: { present: false } });
      expect(r.byId.get('delegate-binary')).toMatchObject({
        status: 'fail',
        summary: '/opt/cni/bin/host-local is missing or not executable',
      });
      expect(r.byId.get('snapshot-db')!.status).toBe('fail');
      expect(r.byId.get('snapshot-db')!.summary).toMatch(/not a database|damaged/);
      expect(r.byId.get('link-state')!.status).toBe('fail');
      expect(r.byId.get('link-state')!.summary).toContain('is stale');
      expect(r.byId.get('kubelet-kubeconfig')!.status).toBe('ok');
      expect(r.byId.get('static-pod')!.status).toBe('ok');
    } finally {
      h.cleanup();
    }
  });

  it('the recorder is information either way: present with --chain-recorder; alone, without the wrapper, still a failure', async () => {
    const h = makeHost({ cni: ['10-containerd-net.conflist'] });
    try {
      expect((await runIslet(['install', '--root', h.root, '--chain-recorder'])).code).toBe(0);
      const chained = await doctor(h, 'http://127.0.0.1:9');
      expect(chained.byId.get('cni-config')).toMatchObject({
        status: 'ok',
        summary: '/etc/cni/net.d/10-containerd-net.conflist: islet wraps the host-local IPAM of bridge',
        data: { wrapper: true, recorder: true },
      });
      expect(chained.byId.get('cni-recorder')).toMatchObject({
        status: 'info',
        summary:
          '/etc/cni/net.d/10-containerd-net.conflist: islet is chained last as the recorder (its record serves CNI CHECK; one more plugin run per pod start and stop)',
        data: { present: true },
      });
      // A network plugin put its own IPAM back but kept the list's tail: the recorder alone
      // keeps no IP, so the node is not ready.
      const conf = JSON.parse(h.read('/etc/cni/net.d/10-containerd-net.conflist'));
      conf.plugins[0].ipam = conf.plugins[0].ipam.delegate;
      writeFileSync(h.at('/etc/cni/net.d/10-containerd-net.conflist'), JSON.stringify(conf));
      const unwrapped = await doctor(h, 'http://127.0.0.1:9');
      expect(unwrapped.byId.get('cni-config')).toMatchObject({
        status: 'fail',
        summary: '/etc/cni/net.d/10-containerd-net.conflist: islet IPAM wrapper missing',
      });
      expect(unwrapped.byId.get('cni-recorder')).toMatchObject({ status: 'info', data: { present: true } });
    } finally {
      h.cleanup();
    }
  });

  it('a static pod kubelet will not start, or one written for another build of the binary', async () => {
    const h = makeHost({ cni: ['10-containerd-net.conflist'] });
    try {
      expect((await runIslet(['install', '--root', h.root])).code).toBe(0);
      const bin = readFileSync(h.at('/opt/cni/bin/islet'));
      writeFileSync(h.at('/opt/cni/bin/islet'), Buffer.concat([bin, Buffer.from('newer build')]), {
        mode: 0o755,
      });
      const stale = await doctor(h, 'http://127.0.0.1:9');
      expect(stale.byId.get('static-pod')).toMatchObject({
        status: 'warn',
        summary:
          '/etc/kubernetes/manifests/islet-proxy.yaml was written for another build than /opt/cni/bin/islet',
      });
      mkdirSync(h.at('/var/lib/kubelet'), { recursive: true });
      writeFileSync(
        h.at('/var/lib/kubelet/config.yaml'),
        'kind: KubeletConfiguration\nstaticPodPath: /etc/kubelet.d\n',
      );
      const elsewhere = await doctor(h, 'http://127.0.0.1:9');
      expect(elsewhere.byId.get('static-pod')).toMatchObject({
        status: 'fail',
        summary:
          "kubelet's staticPodPath is /etc/kubelet.d, not /etc/kubernetes/manifests; run islet install --manifests-dir /etc/kubelet.d",
      });
      const again = await runIslet(['install', '--root', h.root]);
      expect(again.stdout).toContain("kubelet: kubelet's staticPodPath is /etc/kubelet.d");
    } finally {
      h.cleanup();
    }
  });

  it('a flannel node: checks flannel, the bridge it execs, and host-local under islet', async () => {
    const h = makeHost({ cni: ['10-flannel.conflist'] });
    try {
      expect((await runIslet(['install', '--root', h.root])).code).toBe(0);
      for (const p of ['bridge', 'host-local']) copyFileSync(join(CNI_PLUGINS, p), h.at(`/opt/cni/bin/${p}`));
      const r = await doctor(h, 'http://127.0.0.1:9');
      expect(r.byId.get('cni-config')).toMatchObject({
        status: 'ok',
        summary: '/etc/cni/net.d/10-flannel.conflist: islet wraps the host-local IPAM of flannel',
      });
      expect(r.byId.get('main-plugin-binary')).toMatchObject({
        status: 'fail',
        summary: '/opt/cni/bin/flannel is missing or not executable',
      });
      expect(r.byId.get('plugin-binary:bridge')?.status).toBe('ok');
      expect(r.byId.get('delegate-binary')?.status).toBe('ok');
    } finally {
      h.cleanup();
    }
  });

  it('a Calico node: islet not in the network is a warning with the reason, not a failure', async () => {
    const h = makeHost({ cni: ['10-calico.conflist'] });
    try {
      expect((await runIslet(['install', '--root', h.root])).code).toBe(0);
      const r = await doctor(h, 'http://127.0.0.1:9');
      expect(r.byId.get('cni-config')).toMatchObject({ status: 'warn' });
      expect(r.byId.get('cni-config')!.summary).toContain('Calico allocates through calico-ipam');
      // islet is not in this network at all: nothing to say about a recorder.
      expect(r.byId.has('cni-recorder')).toBe(false);
    } finally {
      h.cleanup();
    }
  });

  it('bad flags are usage errors (exit 2)', async () => {
    const r = await runIslet(['doctor', '--admin', 'not a url']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('islet doctor: --admin: "not a url" is not an http(s) URL\n');
  });
});
