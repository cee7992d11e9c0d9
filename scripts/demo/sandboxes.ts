import { existsSync } from 'node:fs';
import { CniLab, type Netns, type Pod, resultIps } from '../../test/cni/lab.js';
import { run } from '../../test/cni/process.js';
import { hasPing } from './prereqs.js';

/** The network name in the conflist; islet keys its snapshots by it. */
const NETWORK = 'edge-pods';

/** A pod sandbox as the runtime made it: a network namespace and the address CNI gave it. */
export interface Sandbox {
  pod: Pod;
  netns: Netns;
  ip: string;
}

/**
 * The node's pod network: Debian's bridge + host-local with islet as the IPAM wrapper and as the
 * chained recorder, driven by cnitool in real network namespaces (test/cni/lab.ts). The bridge
 * (unique name, a random /24 of 10.226.0.0/16 that exists only on it) is created with its gateway
 * address, and the bridge plugin runs with isGateway and ipMasq off: nothing on the host changes
 * beyond the bridge and the namespaces, all removed by cleanup().
 */
export class PodNetwork {
  /** Every netns name this network made, to prove after clean-up that none is left. */
  private readonly netnsNames = new Set<string>();

  private constructor(
    private readonly lab: CniLab,
    private readonly signal: AbortSignal,
  ) {}

  /** `signal` stops it from starting new CNI calls once the demo is told to stop. */
  static async create(signal: AbortSignal): Promise<PodNetwork> {
    signal.throwIfAborted();
    const lab = await CniLab.create({ tag: 'demo', secondOctet: 226 });
    try {
      lab.conflist({ name: NETWORK, tuning: false, recorder: true });
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
    return new PodNetwork(lab, signal);
  }

  get bridge(): string {
    return this.lab.bridge;
  }

  get subnet(): string {
    return this.lab.subnet;
  }

  /** The link-state file islet's IPAM config names; the proxy writes it. */
  get linkStateFile(): string {
    return this.lab.linkStateFile;
  }

  get stateDir(): string {
    return this.lab.dir;
  }

  /** A new sandbox for the pod: new netns + cnitool ADD. `bootId` overrides the kernel's boot id. */
  async add(pod: Pod, bootId?: string): Promise<Sandbox> {
    this.signal.throwIfAborted();
    const netns = await this.lab.netns();
    this.netnsNames.add(netns.name);
    const r = await this.lab.cnitool('add', NETWORK, netns, {
      pod,
      ...(bootId ? { env: { ISLET_BOOT_ID: bootId } } : {}),
    });
    const [ip] = resultIps(r.json);
    if (r.code !== 0 || !ip) {
      throw new Error(`cnitool add for ${pod.name} failed (${r.code}): ${(r.stdout + r.stderr).trim()}`);
    }
    return { pod, netns, ip };
  }

  /** The runtime tears the sandbox down: cnitool DEL, then the netns goes. */
  async remove(sb: Sandbox): Promise<void> {
    this.signal.throwIfAborted();
    const r = await this.lab.cnitool('del', NETWORK, sb.netns, { pod: sb.pod });
    if (r.code !== 0) {
      throw new Error(`cnitool del for ${sb.pod.name} failed (${r.code}): ${(r.stdout + r.stderr).trim()}`);
    }
    await this.lab.deleteNetns(sb.netns);
  }

  /** Power loss: the netns (and its veth) vanish and nobody calls DEL. */
  async vanish(sb: Sandbox): Promise<void> {
    this.signal.throwIfAborted();
    await this.lab.deleteNetns(sb.netns);
  }

  /** The address inside the sandbox, as the kernel has it on eth0. */
  async addressIn(sb: Sandbox): Promise<string | undefined> {
    return (await this.lab.addressesIn(sb.netns))[0];
  }

  /** Whether the sandbox reaches its gateway on the bridge (undefined without ping installed). */
  async reachesGateway(sb: Sandbox): Promise<boolean | undefined> {
    if (!hasPing()) return undefined;
    return (await this.lab.ping(sb.netns, this.lab.gateway)).code === 0;
  }

  get gateway(): string {
    return this.lab.gateway;
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
  }

  /** What cleanup() should have removed but is still there. */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    if ((await run('ip', ['link', 'show', 'dev', this.bridge])).code === 0)
      left.push(`bridge ${this.bridge}`);
    const listed = (await run('ip', ['netns', 'list'])).stdout;
    for (const name of this.netnsNames) {
      if (new RegExp(`^${name}\\b`, 'm').test(listed)) left.push(`netns ${name}`);
    }
    if (existsSync(this.stateDir)) left.push(this.stateDir);
    return left;
  }
}
