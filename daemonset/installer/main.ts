/**
 * `islet install` and `islet uninstall`: flags → options → plan → (diff | apply). Messages go to
 * stdout (what changed, what was left alone), errors to stderr with exit code 1, usage errors 2.
 */
import { readFileSync, realpathSync, rmdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isSea } from 'node:sea';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { type FlagSpec, parseFlags, UsageError } from '../../lib/args.js';
import {
  ADMIN_LISTEN,
  BACKUP_DIR,
  CACHE_DB,
  CNI_BIN_DIR,
  CNI_CONF_DIR,
  CONFIG_DIR,
  KUBELET_KUBECONFIG,
  LINK_STATE_FILE,
  PROXY_LISTEN,
  RUN_DIR,
  STATE_DIR,
  STATIC_POD_DIR,
  UPSTREAM_KUBECONFIG,
} from '../../lib/defaults.js';
import { VERSION } from '../../lib/version.js';
import { BackupStore } from './backup-store.js';
import { HostRoot } from './host-fs.js';
import { applyPlan, binarySource, computePlan, type InstallOptions, type Plan } from './install.js';
import { checkPluginRuns } from './plugin-check.js';
import { unifiedDiff } from './unified-diff.js';

export const DEFAULT_IMAGE = `ghcr.io/islet-dev/islet:${VERSION}`;

const INSTALL_HELP = `Usage: islet install [flags]

Installs islet on the node whose root file system is at --root: copies this binary to
<bin-dir>/islet, wraps the active CNI configuration's IPAM with islet (and with --chain-recorder
appends islet as the chained recorder), writes the proxy as a static pod, copies kubelet's
kubeconfig for the proxy and points kubelet at the proxy. Every change is atomic, backed up once
under ${BACKUP_DIR}, and running it again changes nothing. Undo with islet uninstall.

  --root DIR             host root file system                               (default /)
  --dry-run              print a unified diff of every change; change nothing
  --binary FILE          binary to install                     (default: this executable)
  --bin-dir DIR          CNI binary directory                        (default ${CNI_BIN_DIR})
  --cni-conf-dir DIR     CNI configuration directory                (default ${CNI_CONF_DIR})
  --kubeconfig FILE      kubelet's kubeconfig            (default ${KUBELET_KUBECONFIG})
  --upstream-kubeconfig FILE  the proxy's copy of it    (default ${UPSTREAM_KUBECONFIG})
  --manifests-dir DIR    kubelet's static pod directory      (default ${STATIC_POD_DIR})
  --image REF            image of the proxy's static pod       (default $ISLET_IMAGE or
                         ${DEFAULT_IMAGE})
  --listen ADDR          proxy address kubelet is pointed at          (default ${PROXY_LISTEN})
  --admin ADDR           proxy admin address (/healthz, /metrics)     (default ${ADMIN_LISTEN})
  --cache FILE           proxy cache database             (default ${CACHE_DB})
  --link-state FILE      link-state file                       (default ${LINK_STATE_FILE})
  --config FILE          YAML/JSON: {plugin: {...fields for the islet CNI config},
                         proxy: {args: [...extra islet proxy flags]}, chainRecorder: bool}
  --chain-recorder       also chain islet last in the CNI configuration as the recorder,
                         whose record only CHECK reads (no Kubernetes runtime calls CHECK;
                         it costs a plugin run per pod start and stop). Without it an
                         earlier install's recorder is removed. Default: chainRecorder in
                         --config, else off; --chain-recorder=false overrides the file
  --host-path-prefix DIR where kubelet sees the node's root file system        (default /):
                         the static pod's hostPath volumes, and the staticPodPath kubelet
                         must have, are under it (for a node root that is a directory of
                         the host kubelet runs on, as in a test bed)
  --skip-cni             leave the CNI configuration alone
  --skip-kubelet         leave kubelet alone (no kubeconfig redirect, no static pod)
  --watch SECONDS        stay running and apply again every SECONDS (repairs a CNI
                         configuration the network plugin rewrote); quiet when nothing changes
  --help                 this text

Paths are as the node sees them; --root only says where that file system is mounted.
`;

const UNINSTALL_HELP = `Usage: islet uninstall [flags]

Restores every file islet install changed, byte for byte (content, mode, owner), and removes
every file and directory it created, using the record under ${BACKUP_DIR}.

  --root DIR     host root file system (default /)
  --dry-run      print a unified diff of the restore; change nothing
  --help         this text
`;

const INSTALL_FLAGS: FlagSpec = {
  root: { type: 'string', default: '/' },
  'dry-run': { type: 'boolean', default: false },
  binary: { type: 'string' },
  'bin-dir': { type: 'string', default: CNI_BIN_DIR },
  'cni-conf-dir': { type: 'string', default: CNI_CONF_DIR },
  kubeconfig: { type: 'string', default: KUBELET_KUBECONFIG },
  'upstream-kubeconfig': { type: 'string', default: UPSTREAM_KUBECONFIG },
  'manifests-dir': { type: 'string', default: STATIC_POD_DIR },
  image: { type: 'string' },
  listen: { type: 'string', default: PROXY_LISTEN },
  admin: { type: 'string', default: ADMIN_LISTEN },
  cache: { type: 'string', default: CACHE_DB },
  'link-state': { type: 'string', default: LINK_STATE_FILE },
  config: { type: 'string' },
  'host-path-prefix': { type: 'string', default: '/' },
  'skip-cni': { type: 'boolean', default: false },
  // No default: unset, the --config file decides.
  'chain-recorder': { type: 'boolean' },
  'skip-kubelet': { type: 'boolean', default: false },
  watch: { type: 'string' },
  help: { type: 'boolean', default: false },
};

const UNINSTALL_FLAGS: FlagSpec = {
  root: { type: 'string', default: '/' },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};

function hostPath(flags: Record<string, unknown>, name: string): string {
  const v = flags[name] as string;
  if (!isAbsolute(v))
    throw new UsageError(`--${name} must be an absolute path as the node sees it, not "${v}"`);
  return v;
}

/** The executable to copy: the single executable itself, or the bundled script it runs as. */
function runningBinary(): string {
  if (isSea()) return process.execPath;
  const script = process.argv[1] ? realpathSync(process.argv[1]) : '';
  if (script === '' || script.endsWith('.ts')) {
    throw new UsageError('not running from a built islet binary; pass --binary dist/islet');
  }
  return script;
}

interface ConfigFile {
  plugin: Record<string, unknown>;
  proxyArgs: string[];
  chainRecorder: boolean | undefined;
}

function readConfig(file: string | undefined): ConfigFile {
  if (!file) return { plugin: {}, proxyArgs: [], chainRecorder: undefined };
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--config ${file}: ${(err as Error).message}`);
  }
  doc ??= {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new UsageError(`--config ${file}: must be a mapping`);
  const {
    plugin = {},
    proxy = {},
    chainRecorder,
  } = doc as { plugin?: unknown; proxy?: { args?: unknown }; chainRecorder?: unknown };
  if (typeof plugin !== 'object' || plugin === null || Array.isArray(plugin)) {
    throw new UsageError(`--config ${file}: "plugin" must be a mapping of CNI config fields`);
  }
  if ('type' in plugin || 'delegate' in plugin) {
    throw new UsageError(`--config ${file}: "plugin" must not set "type" or "delegate" (the installer does)`);
  }
  const args = (proxy as { args?: unknown }).args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new UsageError(`--config ${file}: "proxy.args" must be a list of strings`);
  }
  if (chainRecorder !== undefined && typeof chainRecorder !== 'boolean') {
    throw new UsageError(`--config ${file}: "chainRecorder" must be true or false`);
  }
  return { plugin: plugin as Record<string, unknown>, proxyArgs: args, chainRecorder };
}

function printDiff(plan: Plan): void {
  for (const c of plan.changes) {
    if (c.step === 'binary') {
      process.stdout.write(
        `${c.existed ? 'replace' : 'create'} ${c.path} (binary, ${c.copyFrom!.size} bytes, mode ${c.mode.toString(8)})\n`,
      );
    } else if (c.renameTo) {
      process.stdout.write(`rename ${c.path} -> ${c.renameTo}\n`);
    } else {
      process.stdout.write(unifiedDiff(c.path, c.before?.toString('utf8'), c.after!.toString('utf8')));
    }
  }
}

function isBinary(data: Buffer | null | undefined): boolean {
  return data?.includes(0) ?? false;
}

function report(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`islet: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`islet: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

export async function installMain(argv: string[]): Promise<number> {
  try {
    const { flags, rest } = parseFlags(argv, INSTALL_FLAGS);
    if (flags.help) {
      process.stdout.write(INSTALL_HELP);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const config = readConfig(flags.config as string | undefined);
    const binaryFile = (flags.binary as string | undefined) ?? runningBinary();
    const options: InstallOptions = {
      binary: binarySource(resolve(binaryFile)),
      binDir: hostPath(flags, 'bin-dir'),
      cniConfDir: hostPath(flags, 'cni-conf-dir'),
      kubeletKubeconfig: hostPath(flags, 'kubeconfig'),
      upstreamKubeconfig: hostPath(flags, 'upstream-kubeconfig'),
      manifestsDir: hostPath(flags, 'manifests-dir'),
      image: (flags.image as string | undefined) ?? process.env.ISLET_IMAGE ?? DEFAULT_IMAGE,
      listen: flags.listen as string,
      admin: flags.admin as string,
      cache: hostPath(flags, 'cache'),
      linkState: hostPath(flags, 'link-state'),
      pluginOptions: config.plugin,
      proxyArgs: config.proxyArgs,
      skipCni: flags['skip-cni'] as boolean,
      chainRecorder: (flags['chain-recorder'] as boolean | undefined) ?? config.chainRecorder ?? false,
      skipKubelet: flags['skip-kubelet'] as boolean,
      hostPathPrefix: hostPath(flags, 'host-path-prefix'),
    };
    const host = new HostRoot(resolve(flags.root as string));
    const watchSeconds = parseWatch(flags.watch as string | undefined);
    if (flags['dry-run']) {
      if (watchSeconds !== undefined) throw new UsageError('--dry-run and --watch exclude each other');
      const plan = computePlan(host, options, new BackupStore(host));
      printDiff(plan);
      for (const n of plan.notes) process.stdout.write(`note: ${n}\n`);
      if (plan.changes.length === 0) process.stdout.write('nothing to change\n');
      return 0;
    }
    const plan = installOnce(host, options);
    if (plan.changes.length === 0) process.stdout.write('islet is installed; nothing to change\n');
    if (watchSeconds === undefined) return 0;
    await keepInstalled(host, options, watchSeconds, plan.notes);
    return 0;
  } catch (err) {
    return report(err);
  }
}

function parseWatch(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--watch takes a whole number of seconds, not "${value}"`);
  return n;
}

function installOnce(host: HostRoot, options: InstallOptions, quietNotes: string[] = []): Plan {
  const store = new BackupStore(host);
  const plan = computePlan(host, options, store);
  checkPluginRuns(host, plan);
  applyPlan(host, plan, store, (line) => process.stdout.write(`${line}\n`));
  for (const n of plan.notes) {
    if (plan.changes.length > 0 || !quietNotes.includes(n)) process.stdout.write(`${n}\n`);
  }
  return plan;
}

/**
 * --watch: applies the install again every interval, so a network plugin that rewrites its CNI
 * configuration when it restarts (flannel's and Calico's install-cni do) is re-wrapped within
 * one interval. Quiet while nothing changes; an error is reported and retried, never fatal.
 */
async function keepInstalled(host: HostRoot, options: InstallOptions, seconds: number, notes: string[]) {
  let seen = notes;
  for (;;) {
    await sleep(seconds * 1000);
    try {
      seen = installOnce(host, options, seen).notes;
    } catch (err) {
      process.stderr.write(
        `islet: ${err instanceof Error ? err.message : String(err)} (retrying in ${seconds}s)\n`,
      );
    }
  }
}

/**
 * islet's own host directories, as the DaemonSet mounts them (daemonset/manifests/daemonset.yaml,
 * hostPath type DirectoryOrCreate): kubelet creates them for the pod before install runs, so
 * install finds them and does not record them as its own. Uninstall removes them when empty, so
 * the node's file tree is as before the DaemonSet came; ones holding state (the proxy's cache, the
 * snapshot database) stay.
 */
const ISLET_HOST_DIRS = [CONFIG_DIR, RUN_DIR, STATE_DIR];

function removeEmptyIsletDirs(host: HostRoot): string[] {
  const removed: string[] = [];
  for (const d of ISLET_HOST_DIRS) {
    try {
      rmdirSync(host.at(d));
      removed.push(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Absent, holding files, or a mount point (uninstall run inside the DaemonSet's container).
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw err;
    }
  }
  return removed;
}

export async function uninstallMain(argv: string[]): Promise<number> {
  try {
    const { flags, rest } = parseFlags(argv, UNINSTALL_FLAGS);
    if (flags.help) {
      process.stdout.write(UNINSTALL_HELP);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const host = new HostRoot(resolve(flags.root as string));
    const manifest = BackupStore.read(host);
    if (!manifest) {
      process.stdout.write('nothing to uninstall: no record of an islet install on this host\n');
      return 0;
    }
    const store = new BackupStore(host);
    if (flags['dry-run']) {
      for (const rec of [...store.records].reverse()) {
        const original = store.original(rec.path);
        const current = host.read(rec.path);
        if (isBinary(current) || isBinary(original)) {
          const what = original === null ? 'remove' : 'restore';
          if (!(original === null && current === undefined))
            process.stdout.write(`${what} ${rec.path} (binary)\n`);
          continue;
        }
        process.stdout.write(
          unifiedDiff(
            rec.path,
            current?.toString('utf8'),
            original === null ? undefined : original?.toString('utf8'),
          ),
        );
      }
      return 0;
    }
    store.restoreAll((rec, action) => process.stdout.write(`${action} ${rec.path}\n`));
    for (const d of removeEmptyIsletDirs(host)) process.stdout.write(`removed ${d} (empty)\n`);
    process.stdout.write('islet uninstalled; restart kubelet if it was pointed at the proxy\n');
    return 0;
  } catch (err) {
    return report(err);
  }
}
