/**
 * The proxy as a static pod: kubelet starts it from /etc/kubernetes/manifests without asking the
 * API server, which is what an offline reboot needs. It runs the binary the installer put on the
 * host (so plugin and proxy are always the same build) inside the islet image (which supplies
 * the C runtime and is already in the node's image store because the DaemonSet pulled it).
 */
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { kubeletSees } from './kubelet-config.js';

export interface StaticPodOptions {
  image: string;
  /** Host path of the installed binary, e.g. /opt/cni/bin/islet. */
  binary: string;
  /** sha256 of the binary: a new build changes the manifest, so kubelet restarts the proxy. */
  binarySha256: string;
  upstreamKubeconfig: string;
  /** Files the upstream kubeconfig references (CA, client cert/key): their directories are mounted. */
  credentialFiles: string[];
  listen: string;
  admin: string;
  cache: string;
  linkState: string;
  extraArgs: string[];
  /** Where kubelet sees the node's root (default /): the hostPath volumes are under it. */
  hostPathPrefix?: string;
}

export const STATIC_POD_NAME = 'islet-proxy';

function portOf(address: string): number {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${address}" has no usable port`);
  return port;
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/** Directories the proxy must see, each once, and none nested inside another. */
function mountDirs(paths: string[]): string[] {
  const dirs = [...new Set(paths)].sort();
  return dirs.filter((d) => !dirs.some((o) => o !== d && d.startsWith(o.endsWith('/') ? o : `${o}/`)));
}

export function renderStaticPod(o: StaticPodOptions): string {
  const readOnly = mountDirs([dirname(o.upstreamKubeconfig), ...o.credentialFiles.map((f) => dirname(f))]);
  const writable = mountDirs([dirname(o.cache), dirname(o.linkState)]);
  const volumeName = (prefix: string, i: number) => `${prefix}-${i}`;
  const adminPort = portOf(o.admin);
  // The container sees every path as the node does; only the volumes' sources move with the prefix.
  const onHost = (p: string) => kubeletSees(p, o.hostPathPrefix);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: STATIC_POD_NAME,
      namespace: 'kube-system',
      labels: { 'app.kubernetes.io/name': 'islet', 'app.kubernetes.io/component': 'proxy' },
      annotations: { 'islet.dev/binary-sha256': o.binarySha256 },
    },
    spec: {
      hostNetwork: true,
      priorityClassName: 'system-node-critical',
      dnsPolicy: 'Default',
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'proxy',
          image: o.image,
          // Offline reboots must not depend on a registry.
          imagePullPolicy: 'IfNotPresent',
          command: [
            '/opt/islet/bin/islet',
            'proxy',
            '--kubeconfig',
            o.upstreamKubeconfig,
            '--listen',
            o.listen,
            '--admin',
            o.admin,
            '--cache',
            o.cache,
            '--link-state',
            o.linkState,
            ...o.extraArgs,
          ],
          livenessProbe: {
            httpGet: { host: hostOf(o.admin), port: adminPort, path: '/healthz' },
            initialDelaySeconds: 5,
            periodSeconds: 10,
            failureThreshold: 6,
          },
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
          securityContext: {
            // root reads the node's 0600 client key; nothing else is needed.
            runAsUser: 0,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [
            { name: 'islet-binary', mountPath: '/opt/islet/bin/islet', readOnly: true },
            ...readOnly.map((d, i) => ({ name: volumeName('credentials', i), mountPath: d, readOnly: true })),
            ...writable.map((d, i) => ({ name: volumeName('state', i), mountPath: d })),
          ],
        },
      ],
      volumes: [
        { name: 'islet-binary', hostPath: { path: onHost(o.binary), type: 'File' } },
        ...readOnly.map((d, i) => ({
          name: volumeName('credentials', i),
          hostPath: { path: onHost(d), type: 'Directory' },
        })),
        ...writable.map((d, i) => ({
          name: volumeName('state', i),
          hostPath: { path: onHost(d), type: 'DirectoryOrCreate' },
        })),
      ],
    },
  };
  return `# Written by islet install: the islet caching API proxy, started by kubelet itself.\n${stringify(pod)}`;
}
