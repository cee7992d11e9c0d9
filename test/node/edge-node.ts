/**
 * A real edge node for tests: containerd + kubelet + the islet CNI plugin + the islet proxy, on
 * a root file system of its own under a temp dir, installed the way a user installs islet
 * (`islet install --root`), talking to a real control plane through its relay (the WAN link).
 *
 *   const node = await EdgeNode.create(cp);   // bridge, node root, islet install, images
 *   await node.boot();                        // proxy, containerd (+ images), kubelet
 *   await node.powerCut();                    // everything killed, /run and netns gone, new boot id
 *   await node.boot();                        // the same node after the reboot
 *   await node.cleanup();
 *
 * The pod network is a bridge the node creates with a test-only /24 (ipMasq off, the gateway
 * address set before any ADD), so pod traffic never leaves it. kubelet uses the gateway address
 * as its node IP (it refuses loopback).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, run } from '../cni/process.js';
import { freePort } from '../free-port.js';
import { isletBinary } from '../islet-binary.js';
import { type ControlPlane, k8sBin } from '../k8s/control-plane.js';
import { type RunningProxy, startProxy } from '../proxy/harness.js';
import { bridgeConflist } from './bridge-conflist.js';
import { Containerd, type ContainerdPaths, containerdPaths, overlayWorks, RUNC } from './containerd.js';
import { killHard, processTree, removeCgroups, setUpOrCleanUp, unmountAll } from './host-cleanup.js';
import { installIsletOnRoot } from './islet-install.js';
import { KubeProxy } from './kube-proxy.js';
import { Kubelet } from './kubelet.js';
import { PAUSE_COMMAND, writeImageArchive } from './oci-image.js';

export const PAUSE_IMAGE = 'islet.test/pause:1';
export const APP_IMAGE = 'islet.test/busybox:1';

/**
 * A pod bound to `nodeName` whose one container sleeps until stopped, on the node's own image.
 * With `configMap`, that ConfigMap is mounted at /config and the container first prints its
 * `greeting`.
 */
// biome-ignore lint/suspicious/noExplicitAny: a Kubernetes Pod as JSON
export function sleeperPod(name: string, nodeName: string, configMap?: string): any {
  const sleep = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done";
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      nodeName,
      // No token: a projected service-account token needs TokenRequest, a write the API server must answer.
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: APP_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', configMap ? `cat /config/greeting; ${sleep}` : sleep],
          ...(configMap ? { volumeMounts: [{ name: 'config', mountPath: '/config' }] } : {}),
        },
      ],
      ...(configMap ? { volumes: [{ name: 'config', configMap: { name: configMap } }] } : {}),
    },
  };
}

/** Why a real node cannot run here, or '' when it can. */
export function edgeNodeMissing(): string {
  if (process.getuid?.() !== 0) return 'needs root (mounts, network namespaces, cgroups)';
  const need = [
    ...['kubelet', 'containerd', 'containerd-shim-runc-v2', 'ctr'].map(k8sBin),
    RUNC,
    '/bin/busybox',
    '/usr/lib/cni/bridge',
    '/usr/lib/cni/host-local',
    isletBinary,
  ];
  const missing = need.filter((p) => !existsSync(p));
  return missing.length
    ? `missing ${missing.join(', ')} (apt-get install runc busybox-static containernetworking-plugins; .k8s/bin from npm run k8s:build; npm run build)`
    : '';
}

export interface EdgeNodeOptions {
  /**
   * false: the node as kubeadm leaves it (no islet install, no proxy process at boot), and kubelet
   * watches <root>/etc/kubernetes/manifests, so the proxy runs as the static pod islet's
   * DaemonSet writes there. Default true.
   */
  installIslet?: boolean;
  /** Install and run islet (default); false: the node as kubeadm left it, kubelet straight to the
   * relay (a control run). */
  islet?: boolean;
  /** Also run kube-proxy (iptables mode) with kubelet's kubeconfig. */
  kubeProxy?: boolean;
}

/** `islet proxy` answers by verb/resource/code/served_from, from its admin /metrics. */
export type ProxyRequestCounts = Map<string, number>;

export class EdgeNode {
  readonly dir: string;
  readonly root: string;
  readonly logDir: string;
  readonly bridge: string;
  readonly prefix: string;
  readonly gateway: string;
  readonly network: string;
  readonly ctdPaths: ContainerdPaths;
  readonly at: (hostPath: string) => string;
  bootId = randomUUID();
  boots = 0;
  proxy?: RunningProxy;
  containerd?: Containerd;
  kubelet?: Kubelet;
  /** Added to the proxy's arguments at each boot (e.g. `--log-level debug` for its access log). */
  readonly extraProxyArgs: string[] = [];
  kubeProxy?: KubeProxy;
  /** Whether kube-proxy served its metrics after the last boot (it waits for its Node first). */
  kubeProxyReady = false;
  readonly islet: boolean;
  private readonly withKubeProxy: boolean;
  private listen = '';
  private admin = '';
  private snapshotter: 'overlayfs' | 'native' = 'overlayfs';
  private bridgeCreated = false;
  /** Every container ID this node's containerd ever ran (their cgroups are removed at cleanup). */
  private readonly containerIds = new Set<string>();

  private constructor(
    readonly cp: ControlPlane,
    secondOctet: number,
    readonly options: EdgeNodeOptions = {},
  ) {
    this.islet = options.islet ?? true;
    this.withKubeProxy = options.kubeProxy ?? false;
    this.dir = mkdtempSync(join(tmpdir(), 'islet-node-'));
    this.root = join(this.dir, 'root');
    this.logDir = join(this.dir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    this.at = (p: string) => join(this.root, p);
    this.bridge = `islnode${randomBytes(3).toString('hex')}`.slice(0, 15);
    this.prefix = `10.${secondOctet}.${randomBytes(1)[0]}`;
    this.gateway = `${this.prefix}.1`;
    this.network = `islet-edge-${randomBytes(3).toString('hex')}`;
    this.ctdPaths = containerdPaths(this.root, this.logDir);
  }

  /** Lays out the node's root, its bridge, the CNI network, and runs `islet install --root`. */
  static async create(cp: ControlPlane, secondOctet = 228, options: EdgeNodeOptions = {}): Promise<EdgeNode> {
    return setUpOrCleanUp(new EdgeNode(cp, secondOctet, options), (node) => node.layOut());
  }

  private async layOut(): Promise<void> {
    const at = this.at;
    for (const d of ['etc/kubernetes', 'etc/cni/net.d', 'opt/cni/bin', 'var/lib/cni/networks', 'run'])
      mkdirSync(at(d), { recursive: true });

    await mustRun('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.bridgeCreated = true;
    await mustRun('ip', ['addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    await mustRun('ip', ['link', 'set', this.bridge, 'up']);

    // The node as kubeadm leaves it: kubelet's kubeconfig with the node certificate, and a plain
    // bridge + host-local network.
    this.cp.writeKubeconfig({
      cert: this.cp.nodeCert,
      server: this.cp.url,
      path: at('etc/kubernetes/kubelet.conf'),
    });
    const conflist = bridgeConflist({
      name: this.network,
      bridge: this.bridge,
      prefix: this.prefix,
      dataDir: at('var/lib/cni/networks'),
    });
    writeFileSync(at('etc/cni/net.d/10-edge.conflist'), JSON.stringify(conflist, null, 2));
    this.listen = `127.0.0.1:${await freePort()}`;
    this.admin = `127.0.0.1:${await freePort()}`;
    if (this.options.installIslet !== false && this.islet) await this.installIslet();
    writeImageArchive(join(this.dir, 'images.tar'), [
      { ref: PAUSE_IMAGE, entrypoint: PAUSE_COMMAND },
      { ref: APP_IMAGE, cmd: ['/bin/sh'] },
    ]);
    if (!(await overlayWorks(this.dir))) this.snapshotter = 'native';
  }

  /** Free loopback addresses for the proxy's listener and admin port (what islet install is given). */
  get proxyAddresses(): { listen: string; admin: string } {
    return { listen: this.listen, admin: this.admin };
  }

  private async installIslet(): Promise<void> {
    await installIsletOnRoot(this.root, [
      ...['--listen', this.listen, '--admin', this.admin],
      ...['--image', 'islet.test/islet:unused'],
    ]);
  }

  get proxyUrl(): string {
    return `http://${this.listen}`;
  }

  /** The proxy as a process, on the node root's paths (what the static pod would run). */
  private async startProxyProcess(): Promise<void> {
    mkdirSync(this.at('run/islet'), { recursive: true });
    this.proxy = await startProxy([
      '--kubeconfig',
      this.at('etc/islet/upstream.kubeconfig'),
      '--listen',
      this.listen,
      '--admin',
      this.admin,
      '--cache',
      this.at('var/lib/islet/cache.db'),
      '--link-state',
      this.at('run/islet/link.json'),
      // A short probe so the link's state follows the relay within a test's patience.
      '--probe-interval',
      '1s',
      ...this.extraProxyArgs,
    ]);
  }

  /** Starts the proxy, containerd and kubelet (as a node's boot does); images are imported each boot (idempotent). */
  async boot(): Promise<void> {
    this.boots++;
    if (this.options.installIslet !== false && this.islet) await this.startProxyProcess();
    this.containerd = await Containerd.start(
      {
        paths: this.ctdPaths,
        cniBinDirs: [this.at('opt/cni/bin'), '/usr/lib/cni'],
        cniConfDir: this.at('etc/cni/net.d'),
        sandboxImage: PAUSE_IMAGE,
        snapshotter: this.snapshotter,
      },
      // What the islet plugin reads as the boot id instead of the kernel's (a reboot is simulated).
      { ISLET_BOOT_ID: this.bootId },
    );
    await this.containerd.importImages(join(this.dir, 'images.tar'));
    this.kubelet = new Kubelet({
      nodeRoot: this.root,
      logDir: this.logDir,
      nodeName: this.cp.nodeName,
      nodeIp: this.gateway,
      kubeconfig: this.at('etc/kubernetes/kubelet.conf'),
      containerdSocket: this.ctdPaths.socket,
      ...(this.options.installIslet === false ? { staticPodPath: this.at('etc/kubernetes/manifests') } : {}),
    });
    await this.kubelet.start();
    if (this.withKubeProxy) {
      this.kubeProxy = new KubeProxy({
        nodeName: this.cp.nodeName,
        kubeconfig: this.at('etc/kubernetes/kubelet.conf'),
        clusterCidr: `${this.prefix}.0/24`,
        configPath: this.at('var/lib/kube-proxy/config.conf'),
        logDir: this.logDir,
      });
      mkdirSync(this.at('var/lib/kube-proxy'), { recursive: true });
      this.kubeProxyReady = await this.kubeProxy.start(this.islet ? 60_000 : 20_000);
    }
  }

  /** `systemctl restart kubelet`: kubelet reads its kubeconfig again (after islet install or uninstall). */
  async restartKubelet(): Promise<void> {
    if (!this.kubelet) throw new Error('kubelet is not running: boot() first');
    await this.kubelet.stop();
    this.kubelet = new Kubelet(this.kubelet.o);
    await this.kubelet.start();
  }

  /** The proxy's answers so far, keyed "verb resource code served_from". */
  async proxyRequests(): Promise<ProxyRequestCounts> {
    const out: ProxyRequestCounts = new Map();
    if (!this.proxy) return out;
    const text = await (await fetch(`${this.proxy.adminUrl}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith('islet_proxy_requests_total{')) continue;
      const l = Object.fromEntries(
        [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
      );
      out.set(`${l.verb} ${l.resource} ${l.code} ${l.served_from}`, Number(line.split(' ').pop()));
    }
    return out;
  }

  /** crictl against this node's containerd, JSON output parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: CRI JSON read field by field
  async crictl(args: string[]): Promise<any> {
    // crictl stops reading flags at the first argument: -o goes right after the subcommand.
    const [sub = '', ...rest] = args;
    const r = await mustRun(k8sBin('crictl'), [
      '--runtime-endpoint',
      `unix://${this.ctdPaths.socket}`,
      sub,
      '-o',
      'json',
      ...rest,
    ]);
    return JSON.parse(r);
  }

  /** The ready sandbox of pod `name` and its address, as the runtime sees them; undefined while there is none. */
  async readySandbox(name: string): Promise<{ id: string; ip: string } | undefined> {
    const pods = await this.crictl(['pods', '--name', `^${name}$`, '--state', 'ready']);
    const id: string | undefined = pods.items?.[0]?.id;
    if (!id) return undefined;
    const info = await this.crictl(['inspectp', id]);
    return { id, ip: info.status?.network?.ip ?? '' };
  }

  /** The running container `name`'s ID, undefined while none runs. */
  async runningContainer(name: string): Promise<string | undefined> {
    const list = await this.crictl(['ps', '--name', `^${name}$`, '--state', 'running']);
    return list.containers?.[0]?.id;
  }

  private async recordContainerIds(): Promise<void> {
    if (!this.containerd?.running) return;
    const ids = await this.containerd.ctr(['containers', 'ls', '-q']).catch(() => '');
    for (const id of ids.split('\n')) if (id.trim()) this.containerIds.add(id.trim());
  }

  /**
   * A power cut: kubelet, containerd, the shims and every container die at once, the proxy too;
   * what lives on tmpfs on a real node (/run: containerd's state, pod netns, the link state) is
   * gone; the next boot has a new boot id. Disks (containerd's root, kubelet's root dir, the
   * CNI data dir, islet's databases) survive.
   */
  async powerCut(): Promise<void> {
    await this.recordContainerIds();
    const shims = this.containerd?.shimPids() ?? [];
    const sockets = this.containerd?.shimSockets(shims) ?? [];
    const doomed = processTree(shims);
    await this.kubeProxy?.stop();
    this.kubeProxy = undefined;
    await this.kubelet?.stop();
    await this.containerd?.stop();
    await killHard([...doomed, ...processTree(this.containerd?.shimPids() ?? [])]);
    await this.proxy?.kill();
    this.proxy = undefined;
    await unmountAll(this.at('run'));
    await unmountAll(this.at('var/lib/kubelet'));
    await unmountAll(this.ctdPaths.root);
    // Shims put their sockets in containerd's fixed /run/containerd/s; a killed shim leaves its own.
    for (const sock of sockets) rmSync(sock, { force: true });
    rmSync(this.at('run'), { recursive: true, force: true });
    mkdirSync(this.at('run'), { recursive: true });
    removeCgroups((rel) => this.ownsCgroup(rel));
    // Kernel state a reboot loses: kube-proxy's chains and rules.
    if (this.withKubeProxy) await KubeProxy.cleanupRules(this.logDir);
    this.bootId = randomUUID();
  }

  private ownsCgroup(rel: string): boolean {
    const leaf = rel.split('/').pop() ?? '';
    return this.containerIds.has(leaf);
  }

  /** Removes everything the node made: processes, mounts, netns, cgroups, the bridge, the temp dir, CNI results. */
  async cleanup(): Promise<void> {
    try {
      await this.powerCut();
    } catch {
      // best effort: the rest still runs
    }
    if (this.bridgeCreated) await run('ip', ['link', 'del', this.bridge]);
    // runc's parent cgroup of the CRI namespace, once empty (rmdir refuses a populated one).
    removeCgroups((rel) => rel === 'k8s.io');
    // libcni caches results in its default dir, keyed by network name (unique to this node).
    const cache = '/var/lib/cni/results';
    if (existsSync(cache)) {
      for (const f of readdirSync(cache))
        if (f.startsWith(`${this.network}-`)) rmSync(join(cache, f), { force: true });
    }
    if (!process.env.ISLET_KEEP_NODE) {
      await unmountAll(this.dir);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
