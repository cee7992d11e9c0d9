#!/usr/bin/env node
// Builds the pinned test bed (test/k8s/go.mod) into .k8s/bin: the real control plane, node and
// CNI tools the integration tests run. Idempotent: a binary whose stamp matches the pin and the
// module's go.sum is skipped; everything else goes through Go's own module and build caches, so a
// rerun on the same machine takes seconds. Prints each step's time.
//
//   node scripts/k8s-build.mjs [name ...]     (no names: everything)
//   ISLET_K8S_BIN=<dir>                        build somewhere else than .k8s/bin
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const moduleDir = join(root, 'test', 'k8s');
const binDir = resolve(process.env.ISLET_K8S_BIN ?? join(root, '.k8s', 'bin'));

const crictlDir = join(moduleDir, 'crictl');
const read = (dir, file) => readFileSync(join(dir, file), 'utf8');

/** The version a go.mod requires for a module path (after MVS, as `go mod tidy` wrote it). */
function pinOf(path, dir = moduleDir) {
  const m = read(dir, 'go.mod').match(
    new RegExp(`^\\s*${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} (v\\S+)`, 'm'),
  );
  if (!m) throw new Error(`${join(dir, 'go.mod')} does not require ${path}`);
  return m[1];
}

const kube = pinOf('k8s.io/kubernetes');
const [kubeMajor, kubeMinor] = kube.replace(/^v/, '').split('.');
const containerd = pinOf('github.com/containerd/containerd/v2');
const kubeStamp = [
  `k8s.io/component-base/version.gitVersion=${kube}`,
  `k8s.io/component-base/version.gitMajor=${kubeMajor}`,
  `k8s.io/component-base/version.gitMinor=${kubeMinor}`,
  `k8s.io/component-base/version.gitTreeState=clean`,
  `k8s.io/client-go/pkg/version.gitVersion=${kube}`,
  `k8s.io/client-go/pkg/version.gitMajor=${kubeMajor}`,
  `k8s.io/client-go/pkg/version.gitMinor=${kubeMinor}`,
];
const containerdStamp = [
  `github.com/containerd/containerd/v2/version.Version=${containerd}`,
  'github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2',
];

/** name → main package and version stamps. Order: what the control-plane tests need first. */
const targets = [
  ['etcd', 'go.etcd.io/etcd/server/v3', []],
  ['kube-apiserver', 'k8s.io/kubernetes/cmd/kube-apiserver', kubeStamp],
  ['kube-controller-manager', 'k8s.io/kubernetes/cmd/kube-controller-manager', kubeStamp],
  ['kubectl', 'k8s.io/kubernetes/cmd/kubectl', kubeStamp],
  ['kubelet', 'k8s.io/kubernetes/cmd/kubelet', kubeStamp],
  ['kube-proxy', 'k8s.io/kubernetes/cmd/kube-proxy', kubeStamp],
  ['containerd', 'github.com/containerd/containerd/v2/cmd/containerd', containerdStamp],
  [
    'containerd-shim-runc-v2',
    'github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2',
    containerdStamp,
  ],
  ['ctr', 'github.com/containerd/containerd/v2/cmd/ctr', containerdStamp],
  [
    'crictl',
    'sigs.k8s.io/cri-tools/cmd/crictl',
    [`sigs.k8s.io/cri-tools/pkg/version.Version=${pinOf('sigs.k8s.io/cri-tools', crictlDir)}`],
    crictlDir,
  ],
  ['cnitool', 'github.com/containernetworking/cni/cnitool', []],
  ['cni/bridge', 'github.com/containernetworking/plugins/plugins/main/bridge', []],
  ['cni/loopback', 'github.com/containernetworking/plugins/plugins/main/loopback', []],
  ['cni/host-local', 'github.com/containernetworking/plugins/plugins/ipam/host-local', []],
  ['cni/portmap', 'github.com/containernetworking/plugins/plugins/meta/portmap', []],
  ['cni/tuning', 'github.com/containernetworking/plugins/plugins/meta/tuning', []],
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !targets.some(([name]) => name === w));
if (unknown.length > 0) {
  console.error(
    `k8s-build: unknown target(s) ${unknown.join(', ')}; known: ${targets.map(([n]) => n).join(', ')}`,
  );
  process.exit(2);
}

const goEnv = {
  ...process.env,
  CGO_ENABLED: '0',
  GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod -trimpath`.trim(),
};
const go = process.env.GO ?? 'go';
const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
if (goVersion.status !== 0) {
  console.error('k8s-build: no Go toolchain on PATH (install Go 1.26, or set GO=/path/to/go)');
  process.exit(2);
}

const fmt = (ms) => `${(ms / 1000).toFixed(1)} s`;
const started = Date.now();
console.log(
  `k8s-build: Kubernetes ${kube}, containerd ${containerd}, ${goVersion.stdout.trim()} -> ${binDir}`,
);

let t = Date.now();
for (const dir of [moduleDir, crictlDir]) {
  const dl = spawnSync(go, ['mod', 'download'], { cwd: dir, env: goEnv, stdio: 'inherit' });
  if (dl.status !== 0) process.exit(dl.status ?? 1);
}
console.log(`k8s-build: modules ready in ${fmt(Date.now() - t)}`);

let failed = 0;
for (const [name, pkg, stamps, dir = moduleDir] of targets) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const out = join(binDir, name);
  const stampFile = `${out}.stamp`;
  const ldflags = ['-s', '-w', ...stamps.flatMap((s) => ['-X', s])].join(' ');
  // The stamp names everything that decides the binary: package, flags, Go, and the whole go.sum.
  const stamp = createHash('sha256')
    .update([pkg, ldflags, goVersion.stdout.trim(), read(dir, 'go.sum')].join('\n'))
    .digest('hex');
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
    console.log(`k8s-build: ${name.padEnd(24)} up to date`);
    continue;
  }
  mkdirSync(dirname(out), { recursive: true });
  t = Date.now();
  const tmp = `${out}.tmp-${process.pid}`;
  const r = spawnSync(go, ['build', '-o', tmp, '-ldflags', ldflags, pkg], {
    cwd: dir,
    env: goEnv,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    console.error(`k8s-build: ${name} FAILED after ${fmt(Date.now() - t)}`);
    failed++;
    continue;
  }
  renameSync(tmp, out);
  writeFileSync(stampFile, `${stamp}\n`);
  console.log(`k8s-build: ${name.padEnd(24)} built in ${fmt(Date.now() - t)}`);
}
console.log(`k8s-build: total ${fmt(Date.now() - started)}${failed ? `, ${failed} failed` : ''}`);
process.exit(failed ? 1 : 0);
