/**
 * A client on the edge node's LAN: a network namespace of its own, attached to the node's bridge
 * by a veth pair, with an address in the pod /24 below host-local's range (so no pod gets it) and
 * one route: the Service range via the node (the bridge's gateway address). The node forwards
 * only what arrives on its bridge (per-interface forwarding; the machine's ip_forward stays off),
 * kube-proxy's iptables rules DNAT a ClusterIP to a pod on the same bridge, and a guard chain in
 * mangle FORWARD (before kube-proxy's filter FORWARD rules, which it prepends) drops anything
 * between the bridge and any other interface: a ClusterIP nobody DNATs (no rules yet, or no
 * kube-proxy) is dropped on this machine instead of taking the default route.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mustRun, run } from '../cni/process.js';
import { setUpOrCleanUp } from './host-cleanup.js';

export const SERVICE_CIDR = '10.96.0.0/16';

export class LanClient {
  readonly netns: string;
  readonly guard: string;
  private readonly hostVeth: string;
  private made = { netns: false, guard: false, jump: false };

  private constructor(
    readonly bridge: string,
    readonly gateway: string,
    readonly address: string,
  ) {
    const id = randomBytes(3).toString('hex');
    this.netns = `isletlan-${id}`;
    this.hostVeth = `islan${id}`;
    this.guard = `ISLET-LAN-${id.toUpperCase()}`;
  }

  /** `address` is in the bridge's /24 and outside the pods' range; `gateway` is the bridge's address. */
  static async create(bridge: string, gateway: string, address: string): Promise<LanClient> {
    return setUpOrCleanUp(new LanClient(bridge, gateway, address), (c) => c.setUp());
  }

  private async setUp(): Promise<void> {
    // The guard first: from the moment the bridge forwards, nothing it forwards may leave it.
    await mustRun('iptables', ['-w', '-t', 'mangle', '-N', this.guard]);
    this.made.guard = true;
    // In from the bridge and out elsewhere, or out to the bridge and in from elsewhere: dropped.
    for (const [side, other] of [
      ['-i', '-o'],
      ['-o', '-i'],
    ] as const) {
      const rule = [side, this.bridge, '!', other, this.bridge, '-j', 'DROP'];
      await mustRun('iptables', ['-w', '-t', 'mangle', '-A', this.guard, ...rule]);
    }
    await mustRun('iptables', ['-w', '-t', 'mangle', '-I', 'FORWARD', '1', '-j', this.guard]);
    this.made.jump = true;
    writeFileSync(`/proc/sys/net/ipv4/conf/${this.bridge}/forwarding`, '1');

    await mustRun('ip', ['netns', 'add', this.netns]);
    this.made.netns = true;
    await mustRun('ip', [
      'link',
      'add',
      this.hostVeth,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      this.netns,
    ]);
    await mustRun('ip', ['link', 'set', this.hostVeth, 'master', this.bridge]);
    await mustRun('ip', ['link', 'set', this.hostVeth, 'up']);
    const inNs = (args: string[]) => mustRun('ip', ['-n', this.netns, ...args]);
    await inNs(['addr', 'add', `${this.address}/24`, 'dev', 'eth0']);
    await inNs(['link', 'set', 'lo', 'up']);
    await inNs(['link', 'set', 'eth0', 'up']);
    await inNs(['route', 'add', SERVICE_CIDR, 'via', this.gateway]);
  }

  /** GET `url` from the client's namespace with busybox wget; the body, or undefined when it failed. */
  async get(url: string, timeoutMs = 3_000): Promise<string | undefined> {
    // Not wget -T: Debian's static busybox 1.35 wget crashes (SIGSEGV) with it; the kill is the timeout.
    const r = await run('ip', ['netns', 'exec', this.netns, '/bin/busybox', 'wget', '-q', '-O', '-', url], {
      timeoutMs,
    });
    return r.code === 0 ? r.stdout : undefined;
  }

  async cleanup(): Promise<void> {
    // Deleting the namespace deletes its veth end, and with it the host end.
    if (this.made.netns) await run('ip', ['netns', 'del', this.netns]);
    await run('ip', ['link', 'del', this.hostVeth]);
    if (this.made.jump) await run('iptables', ['-w', '-t', 'mangle', '-D', 'FORWARD', '-j', this.guard]);
    if (this.made.guard) {
      await run('iptables', ['-w', '-t', 'mangle', '-F', this.guard]);
      await run('iptables', ['-w', '-t', 'mangle', '-X', this.guard]);
    }
    this.made = { netns: false, guard: false, jump: false };
  }
}
