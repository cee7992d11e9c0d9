/**
 * containerd 2.x for one test node: its own root, state dir, socket and config under the node's
 * root file system, the CRI plugin pointed at the test's CNI folders and pinned pause image, the
 * shim found through PATH (.k8s/bin first) and Debian's runc as the OCI runtime.
 *
 * Everything that would otherwise land on a shared host path is moved under the node root or
 * turned off: pod netns are mounted under the state dir, the CRI streaming server takes a free
 * port, runc's state root is under the state dir, NRI (a fixed /var/run/nri socket) and the snapshotters this machine lacks are disabled.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Component, k8sBin, k8sBinDir } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';

const run = promisify(execFile);

export const RUNC = '/usr/sbin/runc';

export interface ContainerdPaths {
  root: string;
  state: string;
  socket: string;
  config: string;
  log: string;
}

export function containerdPaths(nodeRoot: string, logDir: string): ContainerdPaths {
  return {
    root: join(nodeRoot, 'var/lib/containerd'),
    state: join(nodeRoot, 'run/containerd'),
    socket: join(nodeRoot, 'run/containerd/containerd.sock'),
    config: join(nodeRoot, 'etc/containerd/config.toml'),
    log: join(logDir, 'containerd.log'),
  };
}

export interface ContainerdConfig {
  paths: ContainerdPaths;
  cniBinDirs: string[];
  cniConfDir: string;
  sandboxImage: string;
  snapshotter: 'overlayfs' | 'native';
}

const q = (s: string) => JSON.stringify(s);

/** config.toml version 3 (containerd 2.x). */
export function renderContainerdConfig(c: ContainerdConfig): string {
  return `version = 3
root = ${q(c.paths.root)}
state = ${q(c.paths.state)}
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(c.paths.socket)}

[ttrpc]
  address = ${q(`${c.paths.socket}.ttrpc`)}

[debug]
  address = ""

[metrics]
  address = ""

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(join(c.paths.root, 'opt'))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = ${q(c.snapshotter)}

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = ${q(c.sandboxImage)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # Not every host lets root lower oom_score_adj (kubelet asks -998 for sandboxes): clamp to ours.
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [${c.cniBinDirs.map(q).join(', ')}]
  conf_dir = ${q(c.cniConfDir)}
  max_conf_num = 1

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  snapshotter = ${q(c.snapshotter)}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = ${q(RUNC)}
  Root = ${q(join(c.paths.state, 'runc'))}
  SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** Whether this kernel mounts overlayfs over a directory of `dir`'s file system. */
export async function overlayWorks(dir: string): Promise<boolean> {
  const base = join(dir, 'overlay-probe');
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
  const merged = join(base, 'merged');
  try {
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${join(base, 'lower')},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`,
      merged,
    ]);
    await run('umount', [merged]);
    return true;
  } catch {
    return false;
  }
}

export class Containerd {
  readonly component: Component;

  private constructor(
    readonly paths: ContainerdPaths,
    env: NodeJS.ProcessEnv,
  ) {
    this.component = new Component(
      'containerd',
      k8sBin('containerd'),
      ['--config', paths.config, '--log-level', 'info'],
      paths.log,
      env,
    );
  }

  /** Writes the config and starts containerd; resolves once the CRI answers over the socket. */
  static async start(c: ContainerdConfig, extraEnv: Record<string, string>): Promise<Containerd> {
    for (const d of [c.paths.root, c.paths.state, join(c.paths.config, '..')])
      mkdirSync(d, { recursive: true });
    writeFileSync(c.paths.config, renderContainerdConfig(c));
    const env = {
      // The runc shim v2 is found through PATH; runc itself is named in the config.
      PATH: `${k8sBinDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/root',
      ...extraEnv,
    };
    const ctd = new Containerd(c.paths, env);
    await eventually(
      'containerd to answer on its socket',
      async () => {
        if (!ctd.component.running) throw new Error(`containerd exited:\n${ctd.component.log(60)}`);
        await ctd.ctr(['version']);
        return true;
      },
      Boolean,
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${ctd.component.log(60)}`);
    });
    return ctd;
  }

  /** `ctr` against this containerd in the CRI namespace. */
  async ctr(args: string[]): Promise<string> {
    const { stdout } = await run(k8sBin('ctr'), ['-a', this.paths.socket, '-n', 'k8s.io', ...args], {
      timeout: 120_000,
    });
    return stdout;
  }

  async importImages(archive: string): Promise<string> {
    return this.ctr(['images', 'import', '--all-platforms', archive]);
  }

  /** Shims of this containerd: their command line names its socket in `-address`. */
  shimPids(): number[] {
    const out: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === this.paths.socket) out.push(Number(name));
    }
    return out;
  }

  /**
   * The sockets of these shims: containerd 2.x names a shim's socket by the SHA-256 of
   * "<containerd address>/<namespace>/<shim id>" under the fixed /run/containerd/s.
   */
  shimSockets(pids: number[]): string[] {
    const out: string[] = [];
    for (const pid of pids) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      const id = argv[argv.indexOf('-id') + 1];
      const ns = argv[argv.indexOf('-namespace') + 1];
      if (!id || !ns || argv.indexOf('-id') < 0) continue;
      const hash = createHash('sha256').update(`${this.paths.socket}/${ns}/${id}`).digest('hex');
      out.push(`/run/containerd/s/${hash}`);
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.component.stop();
  }

  get running(): boolean {
    return this.component.running;
  }

  static socketExists(paths: ContainerdPaths): boolean {
    return existsSync(paths.socket);
  }
}
