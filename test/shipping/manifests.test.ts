/**
 * The DaemonSet manifests validate against the Kubernetes API schema (kubernetes-models' JSON
 * schemas), as files and as `kubectl kustomize` renders them, and keep the promises the design
 * makes: least privilege, run everywhere, the proxy only as the static pod.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { repoRoot } from '../islet-binary.js';
import { makeHost, runIslet } from './host-root.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON, inspected field by field
type Loose = any;

const manifestsDir = join(repoRoot, 'daemonset', 'manifests');

const MODELS: Record<string, new (data: Loose) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

function parseDocs(text: string, source: string): Loose[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]!.message}`);
    return d.toJS();
  });
}

function validate(obj: Loose): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

function kustomized(): Loose[] {
  return parseDocs(
    execFileSync('kubectl', ['kustomize', join(repoRoot, 'daemonset')], { encoding: 'utf8' }),
    'kustomize',
  );
}

describe('daemonset manifests', () => {
  it('every manifest file validates against the API schema', () => {
    const files = readdirSync(manifestsDir).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual([
      'configmap.yaml',
      'daemonset.yaml',
      'namespace.yaml',
      'rbac.yaml',
      'serviceaccount.yaml',
    ]);
    for (const f of files) {
      for (const obj of parseDocs(readFileSync(join(manifestsDir, f), 'utf8'), f)) validate(obj);
    }
  });

  it('the validator rejects a broken DaemonSet (the check can fail)', () => {
    const ds = kustomized().find((o) => o.kind === 'DaemonSet');
    ds.spec.template.spec.containers[0].readinessProbe.periodSeconds = 'often';
    expect(() => validate(ds)).toThrow(/periodSeconds must be integer/);
  });

  it('kubectl kustomize renders them; the static pod runs the DaemonSet image', () => {
    const objs = kustomized();
    expect(objs.map((o) => o.kind).sort()).toEqual([
      'ConfigMap',
      'DaemonSet',
      'Namespace',
      'Role',
      'RoleBinding',
      'ServiceAccount',
    ]);
    for (const o of objs) validate(o);
    const ds = objs.find((o) => o.kind === 'DaemonSet');
    const init = ds.spec.template.spec.initContainers.find((c: Loose) => c.name === 'install');
    expect(init.env.find((e: Loose) => e.name === 'ISLET_IMAGE').value).toBe(init.image);
    const agent = ds.spec.template.spec.containers.find((c: Loose) => c.name === 'agent');
    expect(agent.env.find((e: Loose) => e.name === 'ISLET_IMAGE').value).toBe(init.image);
    expect(agent.image).toBe(init.image);
  });

  it('an overlay that sets the image (images:) sets the static pod image (ISLET_IMAGE) to it too', () => {
    const overlay = mkdtempSync(join(tmpdir(), 'islet-overlay-'));
    try {
      writeFileSync(
        join(overlay, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${relative(overlay, join(repoRoot, 'daemonset'))}`,
          'images:',
          '  - name: ghcr.io/islet-dev/islet',
          '    newName: registry.example/edge/islet',
          '    newTag: 9.9.9',
          '',
        ].join('\n'),
      );
      const objs = parseDocs(
        execFileSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' }),
        'overlay',
      );
      const spec = objs.find((o) => o.kind === 'DaemonSet').spec.template.spec;
      for (const c of [...spec.initContainers, ...spec.containers]) {
        expect(c.image).toBe('registry.example/edge/islet:9.9.9');
        expect(c.env.find((e: Loose) => e.name === 'ISLET_IMAGE').value).toBe(
          'registry.example/edge/islet:9.9.9',
        );
      }
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });

  it('least privilege: no API access at all for the service account, no privileged containers', () => {
    const objs = kustomized();
    const sa = objs.find((o) => o.kind === 'ServiceAccount');
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(objs.find((o) => o.kind === 'Role').rules).toEqual([]);
    expect(objs.find((o) => o.kind === 'RoleBinding').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'islet', namespace: 'islet-system' },
    ]);
    const spec = objs.find((o) => o.kind === 'DaemonSet').spec.template.spec;
    expect(spec.automountServiceAccountToken).toBe(false);
    for (const c of [...spec.initContainers, ...spec.containers]) {
      expect(c.securityContext.privileged).toBe(false);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
    }
  });

  it('runs on every node, early, with the host paths the installer edits; never binds the proxy port', () => {
    const ds = kustomized().find((o) => o.kind === 'DaemonSet');
    const spec = ds.spec.template.spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    const hostPaths = spec.volumes.filter((v: Loose) => v.hostPath).map((v: Loose) => v.hostPath.path);
    for (const p of [
      '/opt/cni/bin',
      '/etc/cni/net.d',
      '/var/lib/kubelet',
      '/etc/kubernetes',
      '/var/lib/islet',
      '/run/islet',
    ]) {
      expect(hostPaths).toContain(p);
    }
    const init = spec.initContainers.find((c: Loose) => c.name === 'install');
    const install = [
      '/usr/local/bin/islet',
      'install',
      '--root',
      '/host',
      '--config',
      '/etc/islet-config/config.yaml',
    ];
    expect(init.command).toEqual(install);
    const agent = spec.containers.find((c: Loose) => c.name === 'agent');
    expect(agent.command).toEqual([...install, '--watch', '60']);
    expect(agent.readinessProbe.exec.command).toEqual(['/usr/local/bin/islet', 'doctor', '--root', '/host']);
    for (const c of [...spec.initContainers, ...spec.containers]) {
      expect(c.ports).toBeUndefined();
      expect(c.command).not.toContain('proxy');
    }
  });

  it('the ConfigMap holds a config the installer accepts and applies: the IPAM wrapper, the recorder only when switched on', async () => {
    const cm = parseYaml(readFileSync(join(manifestsDir, 'configmap.yaml'), 'utf8'));
    const config = parseYaml(cm.data['config.yaml']);
    // The setting is spelled out in the shipped file, so operators find it there.
    expect(config.chainRecorder).toBe(false);
    const h = makeHost({ cni: ['10-containerd-net.conflist'] });
    const conflist = () => JSON.parse(h.read('/etc/cni/net.d/10-containerd-net.conflist'));
    const install = async () => {
      const r = await runIslet(['install', '--root', h.root, '--config', h.at('/config.yaml')]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    };
    try {
      writeFileSync(h.at('/config.yaml'), cm.data['config.yaml']);
      await install();
      expect(conflist().plugins[0].ipam).toMatchObject({ type: 'islet', ...config.plugin });
      expect(conflist().plugins.map((p: Loose) => p.type)).toEqual(['bridge', 'portmap']);
      // The agent applies the ConfigMap again: switched on, the recorder is chained with the same fields.
      writeFileSync(
        h.at('/config.yaml'),
        cm.data['config.yaml'].replace('chainRecorder: false', 'chainRecorder: true'),
      );
      await install();
      expect(conflist().plugins.at(-1)).toEqual({ type: 'islet', ...config.plugin });
    } finally {
      h.cleanup();
    }
  });

  it('the Dockerfile copies the built binary into a base with the C runtime it links against', () => {
    const dockerfile = readFileSync(join(repoRoot, 'daemonset', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM gcr\.io\/distroless\/cc-debian12$/m);
    expect(dockerfile).toMatch(/^COPY --chmod=0755 dist\/islet \/usr\/local\/bin\/islet$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/islet"\]$/m);
  });
});
