/**
 * kube-proxy 1.35 for one test node, in iptables mode: its KubeProxyConfiguration fitted to this
 * machine (no conntrack sysctls, no localhost NodePorts, so no route_localnet; NodePorts only on
 * the node's pod /24; its own OOM score left alone), metrics and healthz on free loopback ports,
 * and its API access through the same kubeconfig kubelet uses (through the islet proxy once
 * `islet install` redirected it, straight through the relay without islet).
 *
 * Its chains (KUBE-*) are machine-wide kernel state: `cleanupRules()` runs `kube-proxy --cleanup`,
 * which removes every chain and rule kube-proxy writes (iptables, ip6tables, ipvs, nftables). A
 * reboot (power cut) loses them the same way.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../cni/process.js';
import { freePort } from '../free-port.js';
import { Component, k8sBin } from '../k8s/control-plane.js';

export interface KubeProxyOptions {
  nodeName: string;
  kubeconfig: string;
  /** The node's pod network (the client in it counts as local traffic: no masquerade). */
  clusterCidr: string;
  configPath: string;
  logDir: string;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function renderKubeProxyConfig(
  o: KubeProxyOptions,
  ports: { healthz: number; metrics: number },
): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      hostnameOverride: o.nodeName,
      clientConnection: { kubeconfig: o.kubeconfig },
      clusterCIDR: o.clusterCidr,
      detectLocalMode: 'ClusterCIDR',
      healthzBindAddress: `127.0.0.1:${ports.healthz}`,
      metricsBindAddress: `127.0.0.1:${ports.metrics}`,
      nodePortAddresses: [o.clusterCidr],
      // The kernel's defaults stay: this VM refuses some conntrack sysctls, and a test must not
      // change the machine's.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
        udpTimeout: '0s',
        udpStreamTimeout: '0s',
      },
      // localhostNodePorts would set net.ipv4.conf.all.route_localnet=1 on the host.
      iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '1s' },
      oomScoreAdj: 0,
    },
    null,
    2,
  );
}

export class KubeProxy {
  private component?: Component;
  metricsPort = 0;
  healthzPort = 0;

  constructor(readonly o: KubeProxyOptions) {}

  /**
   * Starts kube-proxy; resolves true once its metrics server answers, false when it has not after
   * `readyMs` (kube-proxy serves nothing before it has read its Node: without the API server, as
   * in a control run offline, it never does); throws when it exits.
   */
  async start(readyMs = 60_000): Promise<boolean> {
    this.healthzPort = await freePort();
    this.metricsPort = await freePort();
    writeFileSync(
      this.o.configPath,
      renderKubeProxyConfig(this.o, { healthz: this.healthzPort, metrics: this.metricsPort }),
    );
    const c = new Component(
      'kube-proxy',
      k8sBin('kube-proxy'),
      [`--config=${this.o.configPath}`, '--v=2'],
      join(this.o.logDir, 'kube-proxy.log'),
      { PATH, HOME: '/root' },
    );
    this.component = c;
    const end = Date.now() + readyMs;
    while (Date.now() < end) {
      if (!c.running) throw new Error(`kube-proxy exited:\n${c.log(60)}`);
      const ok = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  /** Rule syncs kube-proxy completed (kubeproxy_sync_proxy_rules_duration_seconds_count), 0 when unreadable. */
  async syncs(): Promise<number> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('kubeproxy_sync_proxy_rules_duration_seconds_count'));
      return Number(line?.split(' ').pop() ?? 0);
    } catch {
      return 0;
    }
  }

  log(lines = 60): string {
    return this.component?.log(lines) ?? '';
  }

  get pid(): number | undefined {
    return this.component?.proc.pid;
  }

  async stop(): Promise<void> {
    await this.component?.stop();
    this.component = undefined;
  }

  /** Removes every chain and rule kube-proxy wrote (what a reboot does to kernel state). */
  static async cleanupRules(logDir: string): Promise<void> {
    const r = await run(k8sBin('kube-proxy'), ['--cleanup', '--v=1'], { env: { PATH, HOME: '/root' } });
    writeFileSync(join(logDir, 'kube-proxy-cleanup.log'), `${r.stdout}${r.stderr}`, { flag: 'a' });
    // --cleanup leaves the filter table's KUBE-FIREWALL (its martian-localnet drop) and the jumps to it.
    for (const cmd of ['iptables', 'ip6tables']) {
      for (const hook of ['INPUT', 'OUTPUT']) {
        while ((await run(cmd, ['-w', '-D', hook, '-j', 'KUBE-FIREWALL'])).code === 0) {
          // one jump removed per call
        }
      }
      await run(cmd, ['-w', '-F', 'KUBE-FIREWALL']);
      await run(cmd, ['-w', '-X', 'KUBE-FIREWALL']);
    }
  }
}
