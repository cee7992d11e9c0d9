/**
 * `islet install`: computes every change from the host's current state (so a rerun after a crash
 * simply finishes the job), then applies them one step at a time: record the original in the
 * backup store, change the file atomically. Running it twice changes nothing.
 */
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BackupStore } from './backup-store.js';
import { ASIDE_SUFFIX, activeConfigName, patchCniConfig } from './conflist.js';
import { fileSha256, type HostRoot } from './host-fs.js';
import { isRedirected, redirectKubeconfig, referencedFiles, upstreamKubeconfig } from './kubeconfig.js';
import { staticPodPathProblem } from './kubelet-config.js';
import { renderStaticPod } from './static-pod.js';

export interface InstallOptions {
  /** The islet binary to install. */
  binary: BinarySource;
  binDir: string;
  cniConfDir: string;
  kubeletKubeconfig: string;
  manifestsDir: string;
  upstreamKubeconfig: string;
  image: string;
  listen: string;
  admin: string;
  cache: string;
  linkState: string;
  pluginOptions: Record<string, unknown>;
  proxyArgs: string[];
  skipCni: boolean;
  /** islet also last in the conflist as the chained recorder (islet install --chain-recorder). */
  chainRecorder: boolean;
  skipKubelet: boolean;
  /** Where kubelet sees the node's root file system ("/" on a real node). */
  hostPathPrefix: string;
}

export interface BinarySource {
  path: string;
  size: number;
  sha256: string;
}

export function binarySource(path: string): BinarySource {
  return { path, size: statSync(path).size, sha256: fileSha256(path) };
}

export type StepName =
  | 'binary'
  | 'upstream-kubeconfig'
  | 'static-pod'
  | 'kubelet-kubeconfig'
  | 'cni-config'
  | 'cni-aside';

export const STEP_NAMES: StepName[] = [
  'binary',
  'upstream-kubeconfig',
  'static-pod',
  'kubelet-kubeconfig',
  'cni-config',
  'cni-aside',
];

/**
 * One file change: new content (`after`), a copy of a file (`copyFrom`, the binary), or a move
 * aside (`renameTo`). `before` is the current text for diffs (not read for the binary).
 */
export interface Change {
  step: StepName;
  path: string;
  existed: boolean;
  before: Buffer | undefined;
  after?: Buffer;
  copyFrom?: BinarySource;
  mode: number;
  renameTo?: string;
}

export interface Plan {
  /** Host path of the CNI plugin binary the CNI configuration and the static pod name. */
  plugin: string;
  changes: Change[];
  /** Things a person should know: what was left alone and why, what to do next. */
  notes: string[];
}

export class InstallError extends Error {}

function fileChange(
  host: HostRoot,
  step: StepName,
  path: string,
  after: Buffer,
  mode: number,
): Change | undefined {
  const before = host.read(path);
  const st = host.stat(path);
  if (before?.equals(after) && st?.mode === mode) return undefined;
  return { step, path, existed: before !== undefined, before, after, mode };
}

/** The binary is compared by hash, streamed. */
function binaryChange(host: HostRoot, path: string, source: BinarySource): Change | undefined {
  const st = host.stat(path);
  if (st && !st.isDirectory && st.mode === 0o755 && fileSha256(host.at(path)) === source.sha256)
    return undefined;
  return {
    step: 'binary',
    path,
    existed: st !== undefined,
    before: undefined,
    copyFrom: source,
    mode: 0o755,
  };
}

function planCni(host: HostRoot, o: InstallOptions, plan: Plan): void {
  let names: string[];
  try {
    names = readdirSync(host.at(o.cniConfDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    names = [];
  }
  const active = activeConfigName(names);
  if (!active) {
    plan.notes.push(
      `CNI: no configuration in ${o.cniConfDir} yet; run islet install again once the network plugin has written one`,
    );
    return;
  }
  const path = join(o.cniConfDir, active);
  const text = host.read(path)!.toString('utf8');
  const outcome = patchCniConfig(active, text, {
    pluginOptions: o.pluginOptions,
    chainRecorder: o.chainRecorder,
  });
  if (outcome.kind === 'already') {
    const roles = o.chainRecorder ? 'IPAM wrapper and chained recorder' : 'IPAM wrapper';
    plan.notes.push(`CNI: ${path} already uses islet (${roles})`);
    return;
  }
  if (outcome.kind === 'unsupported') {
    plan.notes.push(`CNI: ${path} left untouched: ${outcome.reason}. The proxy is installed all the same.`);
    return;
  }
  const target = join(o.cniConfDir, outcome.fileName);
  const mode = host.stat(path)?.mode ?? 0o644;
  const write = fileChange(host, 'cni-config', target, Buffer.from(outcome.text), mode);
  if (write) plan.changes.push(write);
  if (outcome.asideOf) {
    const aside = join(o.cniConfDir, outcome.asideOf + ASIDE_SUFFIX);
    plan.changes.push({
      step: 'cni-aside',
      path,
      existed: true,
      before: Buffer.from(text),
      mode,
      renameTo: aside,
    });
    plan.notes.push(`CNI: ${path} upgraded to ${target}; the original is kept as ${aside}`);
  }
  if (outcome.changes.length > 0) plan.notes.push(`CNI: ${target}: ${outcome.changes.join('; ')}`);
}

/** The original kubelet kubeconfig: the file itself, or (once redirected) its backup. */
function originalKubeconfig(host: HostRoot, o: InstallOptions, store: BackupStore): string {
  const current = host.read(o.kubeletKubeconfig);
  if (current === undefined)
    throw new InstallError(`kubelet kubeconfig ${o.kubeletKubeconfig} does not exist`);
  const text = current.toString('utf8');
  if (!isRedirected(o.kubeletKubeconfig, text, proxyUrl(o))) return text;
  const saved = store.original(o.kubeletKubeconfig);
  if (saved) return saved.toString('utf8');
  const upstream = host.read(o.upstreamKubeconfig);
  if (upstream) return upstream.toString('utf8');
  throw new InstallError(
    `${o.kubeletKubeconfig} already points at ${proxyUrl(o)} and neither a backup nor ${o.upstreamKubeconfig} holds the original`,
  );
}

export function proxyUrl(o: Pick<InstallOptions, 'listen'>): string {
  return `http://${o.listen}`;
}

export function computePlan(host: HostRoot, o: InstallOptions, store: BackupStore): Plan {
  const binaryPath = join(o.binDir, 'islet');
  const plan: Plan = { plugin: binaryPath, changes: [], notes: [] };
  const add = (c: Change | undefined) => {
    if (c) plan.changes.push(c);
  };
  add(binaryChange(host, binaryPath, o.binary));

  if (!o.skipKubelet) {
    const original = originalKubeconfig(host, o, store);
    const upstream = host.read(o.upstreamKubeconfig);
    // A kubeconfig written earlier stays as it is (an operator may have edited it); only a missing one is derived.
    const upstreamText = upstream
      ? upstream.toString('utf8')
      : upstreamKubeconfig(o.kubeletKubeconfig, original, dirname(o.kubeletKubeconfig));
    if (!upstream)
      add(fileChange(host, 'upstream-kubeconfig', o.upstreamKubeconfig, Buffer.from(upstreamText), 0o600));
    const pod = renderStaticPod({
      image: o.image,
      binary: binaryPath,
      binarySha256: o.binary.sha256,
      upstreamKubeconfig: o.upstreamKubeconfig,
      credentialFiles: referencedFiles(o.upstreamKubeconfig, upstreamText),
      listen: o.listen,
      admin: o.admin,
      cache: o.cache,
      linkState: o.linkState,
      extraArgs: o.proxyArgs,
      hostPathPrefix: o.hostPathPrefix,
    });
    const podPathProblem = staticPodPathProblem(host, o.manifestsDir, o.hostPathPrefix);
    // Written before the redirect (the plan is applied in order): kubelet is pointed at the
    // proxy only once the manifest that starts it is in place.
    add(fileChange(host, 'static-pod', join(o.manifestsDir, 'islet-proxy.yaml'), Buffer.from(pod), 0o600));
    const current = host.read(o.kubeletKubeconfig)!.toString('utf8');
    const redirected = isRedirected(o.kubeletKubeconfig, current, proxyUrl(o));
    if (podPathProblem) {
      // A kubelet that will not start the proxy must not be pointed at it: it would lose its API server.
      plan.notes.push(
        redirected
          ? `kubelet: ${podPathProblem}`
          : `kubelet: ${podPathProblem}; ${o.kubeletKubeconfig} still points at the API server until then`,
      );
    } else if (!redirected) {
      const mode = host.stat(o.kubeletKubeconfig)?.mode ?? 0o600;
      const text = redirectKubeconfig(o.kubeletKubeconfig, current, proxyUrl(o));
      add(fileChange(host, 'kubelet-kubeconfig', o.kubeletKubeconfig, Buffer.from(text), mode));
      plan.notes.push(
        `kubelet: ${o.kubeletKubeconfig} now points at ${proxyUrl(o)}; restart kubelet (systemctl restart kubelet) to switch`,
      );
    }
  }
  if (!o.skipCni) planCni(host, o, plan);
  return plan;
}

/**
 * Test hook, documented in docs/readme/shipping.md: ISLET_INSTALL_CRASH_AFTER=<step> (or
 * <step>:backup, after the original is recorded but before the change) kills the process hard
 * at that point, the way a node losing power would.
 */
function crashPoint(name: string): void {
  if (process.env.ISLET_INSTALL_CRASH_AFTER === name) process.kill(process.pid, 'SIGKILL');
}

export function applyPlan(host: HostRoot, plan: Plan, store: BackupStore, log: (line: string) => void): void {
  for (const c of plan.changes) {
    store.recordFile(c.path);
    if (c.renameTo) store.recordFile(c.renameTo);
    crashPoint(`${c.step}:backup`);
    if (c.renameTo) {
      renameSync(host.at(c.path), host.at(c.renameTo));
      log(`moved ${c.path} to ${c.renameTo}`);
    } else {
      store.ensureDir(dirname(c.path));
      host.write(c.path, c.copyFrom ? readFileSync(c.copyFrom.path) : c.after!, c.mode);
      log(`${c.existed ? 'updated' : 'created'} ${c.path}`);
    }
    crashPoint(c.step);
  }
}
