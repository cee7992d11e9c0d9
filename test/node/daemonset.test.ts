/**
 * The shipped manifests run for real: `kubectl apply -k` of an overlay on daemonset/ against a
 * real API server; the real kubelet of an edge node runs the DaemonSet pod from the islet image
 * (`npm run image`, imported into the node's containerd); its init container installs islet into
 * the node's root; kubelet starts the proxy from the static pod the installer wrote; kubelet,
 * restarted once, reaches the API server through the proxy; the agent's readiness probe
 * (`islet doctor`) turns the pod Ready. Then the DaemonSet is deleted and `islet uninstall` on the
 * node restores the node's files byte for byte.
 *
 * The overlay only moves what the test bed needs moved: the image (imagePullPolicy Never), the
 * hostPath volumes into the node's root, node selection, free ports for the proxy, the install's
 * --host-path-prefix (kubelet runs outside the node root), and a short readiness period.
 * There is no kube-scheduler here: the test binds the DaemonSet's pod to the node as the scheduler
 * would (the DaemonSet controller only sets node affinity).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../islet-binary.js';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import { EdgeNode, edgeNodeMissing } from './edge-node.js';

const exec = promisify(execFile);
const missing = controlPlaneMissing() || edgeNodeMissing();
if (missing) console.warn(`skipping the DaemonSet on a real node: ${missing}`);

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON read field by field
type Loose = any;

const NS = 'islet-system';
const IMAGE = `islet.test/islet:ds-${process.pid}`;

/** Every entry under `dirs` of `root`: type, mode, owner, and content hash or link target. */
function snapshot(root: string, dirs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel));
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isDirectory()) {
      out.set(rel, `dir ${meta}`);
      for (const e of readdirSync(join(root, rel))) walk(join(rel, e));
    } else if (st.isSymbolicLink()) out.set(rel, `link ${readlinkSync(join(root, rel))}`);
    else
      out.set(
        rel,
        `file ${meta} ${createHash('sha256')
          .update(readFileSync(join(root, rel)))
          .digest('hex')}`,
      );
  };
  for (const d of dirs) if (existsSync(join(root, d))) walk(d);
  return out;
}

function differences(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, v] of before) if (after.get(p) !== v) out.push(`${p}: ${v} -> ${after.get(p) ?? 'gone'}`);
  for (const [p, v] of after) if (!before.has(p)) out.push(`${p}: new ${v}`);
  return out.sort();
}

/** The kustomization the test applies: daemonset/ as its base, moved onto this test node. */
function writeOverlay(dir: string, node: EdgeNode, nodeName: string): void {
  const { listen, admin } = node.proxyAddresses;
  const root = node.root;
  const flags = ['--listen', listen, '--admin', admin, '--host-path-prefix', root];
  // The shipped install command (test/shipping/manifests.test.ts checks it), extended with the flags above.
  const shipped = parseYaml(readFileSync(join(repoRoot, 'daemonset/manifests/daemonset.yaml'), 'utf8'));
  const install: string[] = shipped.spec.template.spec.initContainers.find(
    (c: Loose) => c.name === 'install',
  ).command;
  const hostPaths: Record<string, string> = {
    'cni-bin': '/opt/cni/bin',
    'cni-conf': '/etc/cni/net.d',
    kubernetes: '/etc/kubernetes',
    'islet-etc': '/etc/islet',
    'islet-state': '/var/lib/islet',
    'islet-run': '/run/islet',
    kubelet: '/var/lib/kubelet',
  };
  const daemonSetPatch = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'islet', namespace: NS },
    spec: {
      template: {
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': nodeName },
          initContainers: [{ name: 'install', imagePullPolicy: 'Never', command: [...install, ...flags] }],
          containers: [
            {
              name: 'agent',
              imagePullPolicy: 'Never',
              command: [...install, ...flags, '--watch', '60'],
              readinessProbe: {
                exec: {
                  command: [
                    '/usr/local/bin/islet',
                    'doctor',
                    '--root',
                    '/host',
                    '--admin',
                    `http://${admin}`,
                    '--proxy-url',
                    `http://${listen}`,
                    '--host-path-prefix',
                    root,
                  ],
                },
                periodSeconds: 2,
              },
            },
          ],
          volumes: Object.entries(hostPaths).map(([name, p]) => ({
            name,
            hostPath: { path: join(root, p) },
          })),
        },
      },
    },
  };
  // The CNI plugin runs on the host (containerd execs it): its files are host paths.
  const config = {
    plugin: {
      database: join(root, 'var/lib/islet/ipam.db'),
      linkStateFile: join(root, 'run/islet/link.json'),
      snapshotTTL: '720h',
    },
    proxy: { args: ['--log-level', 'info'] },
  };
  const configMapPatch = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'islet-config', namespace: NS },
    data: { 'config.yaml': JSON.stringify(config) },
  };
  writeFileSync(join(dir, 'daemonset-patch.json'), JSON.stringify(daemonSetPatch, null, 2));
  writeFileSync(join(dir, 'configmap-patch.json'), JSON.stringify(configMapPatch, null, 2));
  const [name, tag] = IMAGE.split(':') as [string, string];
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(dir, join(repoRoot, 'daemonset'))}`,
      'images:',
      '  - name: ghcr.io/islet-dev/islet',
      `    newName: ${name}`,
      `    newTag: ${tag}`,
      'patches:',
      '  - path: daemonset-patch.json',
      '  - path: configmap-patch.json',
      '',
    ].join('\n'),
  );
}

describe.skipIf(missing)('the shipped DaemonSet on a real edge node', () => {
  let cp: ControlPlane;
  let node: EdgeNode;
  let dir: string;
  let kubeconfig: string;
  let before: Map<string, string>;
  let installed = false;
  const kubectl = async (args: string[]) =>
    (await exec('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 120_000 })).stdout;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'islet-ds-'));
    cp = await startControlPlane({ controllerManager: true });
    kubeconfig = cp.writeKubeconfig();
    node = await EdgeNode.create(cp, 231, { installIslet: false });
    // kubelet's kubeconfig with the credentials inline: kubelet and the proxy's static pod see
    // file paths differently in this test bed (the node root is a directory of this host).
    const pem = (f: string) => readFileSync(f).toString('base64');
    writeFileSync(
      node.at('etc/kubernetes/kubelet.conf'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'cloud', cluster: { server: cp.url, 'certificate-authority-data': pem(cp.caPath) } },
        ],
        users: [
          {
            name: 'node',
            user: {
              'client-certificate-data': pem(cp.nodeCert.certPath),
              'client-key-data': pem(cp.nodeCert.keyPath),
            },
          },
        ],
        contexts: [{ name: 'cloud', context: { cluster: 'cloud', user: 'node' } }],
        'current-context': 'cloud',
      }),
      { mode: 0o600 },
    );
    // A node's CNI bin dir holds its network's plugins (doctor checks they are there).
    for (const p of ['bridge', 'host-local', 'loopback'])
      copyFileSync(join('/usr/lib/cni', p), node.at(`opt/cni/bin/${p}`));
    await exec(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'scripts/image.ts'),
        '--out',
        join(dir, 'islet-image.tar'),
        '--ref',
        IMAGE,
      ],
      { cwd: repoRoot, timeout: 180_000 },
    );
    await node.boot();
    await node.containerd!.importImages(join(dir, 'islet-image.tar'));
    before = snapshot(node.root, ['etc', 'opt']);
    writeOverlay(dir, node, cp.nodeName);
  }, 400_000);

  afterAll(async () => {
    if (node && process.env.ISLET_TEST_VERBOSE)
      process.stderr.write(`[ds] kubelet log:\n${node.kubelet?.log(80)}\n`);
    await node?.cleanup();
    await cp?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  const condition = (p: Loose, type: string) =>
    p?.status?.conditions?.find((c: Loose) => c.type === type)?.status;
  /** The Node once it is Ready with a heartbeat from `since` (ms) on: kubelet reaches the API server. */
  const readySince = (what: string, since: number) =>
    eventually(
      what,
      () => cp.admin.ok('GET', `/api/v1/nodes/${cp.nodeName}`),
      (n) =>
        n.status.conditions.some(
          (c: Loose) =>
            c.type === 'Ready' && c.status === 'True' && Date.parse(c.lastHeartbeatTime) >= since - 1000,
        ),
      120_000,
    );

  it('kubectl apply -k runs the DaemonSet pod; it installs islet; the proxy static pod serves kubelet; the agent turns Ready', async () => {
    const applied = await kubectl(['apply', '-k', dir]);
    expect(applied).toMatch(/daemonset.apps\/islet created/);
    const pending = await eventually(
      'the DaemonSet controller to create the pod for the node',
      async () => (await cp.admin.ok('GET', `/api/v1/namespaces/${NS}/pods`)).items as Loose[],
      (items) => items.length === 1,
      120_000,
    );
    const podName: string = pending[0].metadata.name;
    const podPath = `/api/v1/namespaces/${NS}/pods/${podName}`;
    // The scheduler's part: bind the pod to the node its affinity names.
    const affinity = JSON.stringify(pending[0].spec.affinity);
    expect(affinity).toContain(cp.nodeName);
    if (!pending[0].spec.nodeName) {
      await cp.admin.ok('POST', `${podPath}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: podName },
        target: { apiVersion: 'v1', kind: 'Node', name: cp.nodeName },
      });
    }
    const withKubelet = (err: unknown) => {
      throw new Error(`${(err as Error).message}\nkubelet:\n${node.kubelet?.log(60)}`);
    };
    // The init container ran `islet install --root /host` into the node's root.
    await eventually(
      'the init container to finish',
      () => cp.admin.ok('GET', podPath),
      (p) => p.status?.initContainerStatuses?.[0]?.state?.terminated !== undefined,
      180_000,
    ).catch(withKubelet);
    const pod = await cp.admin.ok('GET', podPath);
    expect(pod.status.initContainerStatuses[0].state.terminated.exitCode).toBe(0);
    installed = true;
    const { listen, admin } = node.proxyAddresses;
    expect(existsSync(node.at('opt/cni/bin/islet'))).toBe(true);
    const conflist = JSON.parse(readFileSync(node.at('etc/cni/net.d/10-edge.conflist'), 'utf8'));
    // Its config, like the shipped ConfigMap's, does not ask for the recorder: the IPAM wrapper alone.
    expect(conflist.plugins.map((p: Loose) => p.type)).toEqual(['bridge']);
    expect(conflist.plugins[0].ipam.type).toBe('islet');
    expect(conflist.plugins[0].ipam.database).toBe(node.at('var/lib/islet/ipam.db'));
    const kubeletConf = parseYaml(readFileSync(node.at('etc/kubernetes/kubelet.conf'), 'utf8'));
    expect(kubeletConf.clusters[0].cluster.server).toBe(`http://${listen}`);
    const staticPod = parseYaml(readFileSync(node.at('etc/kubernetes/manifests/islet-proxy.yaml'), 'utf8'));
    expect(staticPod.spec.containers[0].image).toBe(IMAGE);
    for (const v of staticPod.spec.volumes) expect(v.hostPath.path.startsWith(`${node.root}/`)).toBe(true);

    // kubelet starts the proxy from the manifest, without the API server's help.
    await eventually(
      'the proxy static pod to answer /healthz',
      () => fetch(`http://${admin}/healthz`).then((r) => r.status),
      (s) => s === 200,
      180_000,
    ).catch(withKubelet);
    const mirror = await eventually(
      'the proxy mirror pod Running',
      () => cp.admin.request('GET', `/api/v1/namespaces/kube-system/pods/islet-proxy-${cp.nodeName}`),
      (r) => r.status === 200 && (r.json as Loose).status?.phase === 'Running',
      120_000,
    );
    expect((mirror.json as Loose).spec.hostNetwork).toBe(true);

    // Restarted once (README), kubelet reads the redirected kubeconfig: it talks through the proxy.
    const restartedAt = Date.now();
    await node.restartKubelet();
    const upstreamWrites = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('islet_proxy_requests_total{') && /verb="(patch|update)"/.test(l))
        .filter((l) => /resource="(nodes|leases)"/.test(l) && /code="2\d\d"/.test(l));
    const writes = await eventually(
      "kubelet's node status and lease writes through the proxy",
      () => fetch(`http://${admin}/metrics`).then((r) => r.text()),
      (t) => upstreamWrites(t).length > 0,
      120_000,
    ).catch(withKubelet);
    console.log(`[ds] kubelet through the proxy:\n${upstreamWrites(writes).join('\n')}`);
    const nodeObj = await readySince('the Node Ready with a heartbeat after the restart', restartedAt);
    expect(condition(nodeObj, 'Ready')).toBe('True');

    // islet doctor, the agent's readiness probe, says the node is ready to go offline.
    const ready = await eventually(
      'the DaemonSet pod Ready (readiness probe: islet doctor)',
      () => cp.admin.ok('GET', podPath),
      (p) => condition(p, 'Ready') === 'True',
      180_000,
    ).catch(async (err) => {
      const doctor = await exec(node.at('opt/cni/bin/islet'), [
        'doctor',
        '--root',
        node.root,
        '--admin',
        `http://${admin}`,
        '--proxy-url',
        `http://${listen}`,
        '--host-path-prefix',
        node.root,
      ]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      throw new Error(`${(err as Error).message}\ndoctor on the node:\n${doctor.stdout}`);
    });
    expect(ready.status.containerStatuses[0].ready).toBe(true);
  }, 900_000);

  it('deleting the DaemonSet and islet uninstall on the node restore its files byte for byte', async () => {
    if (!installed) throw new Error('needs the install of the previous test');
    // The documented path: deleting the DaemonSet does not uninstall (and its agent would
    // reinstall), so delete it first, then run islet uninstall on the node and restart kubelet.
    await kubectl(['delete', '-k', dir, '--wait=false']);
    await eventually(
      "the DaemonSet's pod gone from the node",
      async () => (await cp.admin.request('GET', `/api/v1/namespaces/${NS}/pods`)).json as Loose,
      (list) => (list?.items ?? []).length === 0,
      180_000,
    );
    const out = await exec(node.at('opt/cni/bin/islet'), ['uninstall', '--root', node.root]);
    expect(out.stdout).toContain('islet uninstalled');
    await node.restartKubelet();
    const diff = differences(before, snapshot(node.root, ['etc', 'opt']));
    console.log(`[ds] node files after uninstall vs before install:\n${diff.join('\n') || '  (identical)'}`);
    expect(diff).toEqual([]);
    // kubelet, back on its own kubeconfig, still reaches the API server.
    const restartedAt = Date.now();
    await readySince('the Node Ready with a heartbeat after uninstall', restartedAt);
  }, 600_000);
});
