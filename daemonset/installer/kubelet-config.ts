/**
 * Kubelet's own configuration file, read only for the one thing islet depends on: the static pod
 * directory kubelet watches (the proxy's static pod must be written there to ever start).
 */
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { HostRoot } from './host-fs.js';

export const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';

/**
 * Where kubelet finds a node path: the path itself, or under `hostPathPrefix` when kubelet runs
 * outside the node's root file system (a test bed whose node root is a directory; see
 * `islet install --host-path-prefix`).
 */
export function kubeletSees(nodePath: string, hostPathPrefix = '/'): string {
  return hostPathPrefix === '/' ? nodePath : join(hostPathPrefix, nodePath);
}

/** Why kubelet would not start a static pod from `manifestsDir`, or undefined if it would (or we cannot tell). */
export function staticPodPathProblem(
  host: HostRoot,
  manifestsDir: string,
  hostPathPrefix = '/',
): string | undefined {
  const raw = host.read(KUBELET_CONFIG);
  if (!raw) return undefined;
  let staticPodPath: unknown;
  try {
    staticPodPath = (parseYaml(raw.toString('utf8')) as { staticPodPath?: unknown } | null)?.staticPodPath;
  } catch {
    return undefined;
  }
  if (staticPodPath === undefined || staticPodPath === null || staticPodPath === '') {
    return `${KUBELET_CONFIG} sets no staticPodPath, so kubelet starts no static pods; set it to ${manifestsDir}`;
  }
  const dir = String(staticPodPath).replace(/\/+$/, '');
  if (dir !== kubeletSees(manifestsDir, hostPathPrefix)) {
    return `kubelet's staticPodPath is ${dir}, not ${manifestsDir}; run islet install --manifests-dir ${dir}`;
  }
  return undefined;
}
