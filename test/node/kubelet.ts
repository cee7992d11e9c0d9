/**
 * kubelet 1.35 for one test node: a KubeletConfiguration fitted to this machine (cgroupfs on
 * cgroup v1 without systemd, no swap accounting, no QoS cgroups or node-allocatable enforcement,
 * no iptables chains), its own root dir, static pod dir, log and plugin dirs under the node root,
 * its server and healthz on free loopback ports, and its API access through the kubeconfig
 * `islet install` redirected to the islet proxy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../free-port.js';
import { Component, k8sBin } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';

export interface KubeletOptions {
  nodeRoot: string;
  logDir: string;
  nodeName: string;
  /** An address on a host interface (kubelet refuses loopback as the node IP). */
  nodeIp: string;
  /** kubelet's kubeconfig (as redirected by islet install). */
  kubeconfig: string;
  containerdSocket: string;
  /** Static pod directory (default <root>/etc/kubernetes/static-pods, see kubeletPaths). */
  staticPodPath?: string;
}

export interface KubeletPaths {
  rootDir: string;
  config: string;
  staticPodPath: string;
  podLogsDir: string;
  volumePluginDir: string;
}

export function kubeletPaths(nodeRoot: string): KubeletPaths {
  return {
    rootDir: join(nodeRoot, 'var/lib/kubelet'),
    config: join(nodeRoot, 'var/lib/kubelet/config.yaml'),
    // Not /etc/kubernetes/manifests: the proxy's static pod islet install writes there needs the
    // islet image, which this node does not have; the test runs the proxy as a process instead.
    staticPodPath: join(nodeRoot, 'etc/kubernetes/static-pods'),
    podLogsDir: join(nodeRoot, 'var/log/pods'),
    volumePluginDir: join(nodeRoot, 'usr/libexec/kubernetes/kubelet-plugins/volume/exec'),
  };
}

export function renderKubeletConfig(
  o: KubeletOptions,
  paths: KubeletPaths,
  ports: { port: number; healthz: number },
): string {
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port: ports.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: ports.healthz,
    containerRuntimeEndpoint: `unix://${o.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    failCgroupV1: false,
    localStorageCapacityIsolation: false,
    makeIPTablesUtilChains: false,
    staticPodPath: paths.staticPodPath,
    podLogsDir: paths.podLogsDir,
    volumePluginDir: paths.volumePluginDir,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false }, x509: {} },
    authorization: { mode: 'AlwaysAllow' },
    // A busy shared disk must not evict the test's pod or block image use.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    resolvConf: '/etc/resolv.conf',
    serializeImagePulls: false,
    registerNode: true,
  };
  return JSON.stringify(config, null, 2);
}

export class Kubelet {
  readonly paths: KubeletPaths;
  private component?: Component;
  private stopping = false;
  healthzPort = 0;
  /** Times kubelet exited on its own and was started again (as systemd's Restart=always does). */
  restarts = 0;

  constructor(readonly o: KubeletOptions) {
    this.paths = {
      ...kubeletPaths(o.nodeRoot),
      ...(o.staticPodPath ? { staticPodPath: o.staticPodPath } : {}),
    };
  }

  async start(): Promise<void> {
    const p = this.paths;
    for (const d of [p.rootDir, p.staticPodPath, p.podLogsDir, p.volumePluginDir])
      mkdirSync(d, { recursive: true });
    const ports = { port: await freePort(), healthz: await freePort() };
    this.healthzPort = ports.healthz;
    writeFileSync(p.config, renderKubeletConfig(this.o, p, ports));
    this.spawn();
    const c = this.component!;
    await eventually(
      'kubelet healthz',
      async () => {
        if (!c.running) throw new Error('kubelet exited');
        const r = await fetch(`http://127.0.0.1:${ports.healthz}/healthz`);
        return r.status === 200;
      },
      Boolean,
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${c.log(80)}`);
    });
  }

  /** Starts kubelet, and again whenever it exits while nobody stopped it (the node's supervisor). */
  private spawn(): void {
    const p = this.paths;
    this.component = new Component(
      'kubelet',
      k8sBin('kubelet'),
      [
        `--config=${p.config}`,
        `--kubeconfig=${this.o.kubeconfig}`,
        `--root-dir=${p.rootDir}`,
        `--hostname-override=${this.o.nodeName}`,
        `--node-ip=${this.o.nodeIp}`,
        '--v=2',
      ],
      join(this.o.logDir, 'kubelet.log'),
      { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' },
    );
    this.component.proc.once('exit', () => {
      if (this.stopping) return;
      this.restarts++;
      setTimeout(() => {
        if (!this.stopping) this.spawn();
      }, 1_000);
    });
  }

  log(lines = 80): string {
    return this.component?.log(lines) ?? '';
  }

  get running(): boolean {
    return this.component?.running ?? false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.component?.stop();
  }
}
