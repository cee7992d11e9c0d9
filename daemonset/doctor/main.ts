/**
 * `islet doctor`: checks and explains this node's readiness to run offline, like
 * `keadm debug check`. Exit code 0 when nothing failed, 1 when something did, 2 on bad usage.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FlagSpec, parseFlags, UsageError } from '../../lib/args.js';
import {
  ADMIN_LISTEN,
  CNI_BIN_DIR,
  CNI_CONF_DIR,
  IPAM_DB,
  KUBELET_KUBECONFIG,
  LINK_STATE_FILE,
  PROXY_LISTEN,
  STATIC_POD_DIR,
} from '../../lib/defaults.js';
import { HostRoot } from '../installer/host-fs.js';
import { checkAutonomy } from './autonomy-check.js';
import {
  checkCni,
  checkKubeletKubeconfig,
  checkPluginBinary,
  checkStaticPod,
  type HostPaths,
} from './host-checks.js';
import { type Finding, makeReport, type Report, renderText } from './report.js';
import { checkLinkState, checkProxy, checkSnapshotDb } from './state-checks.js';

const HELP = `Usage: islet doctor [flags]

Checks this node's readiness to keep running offline and explains each finding: the plugin binary,
the CNI configuration (islet as IPAM wrapper; whether it is also chained as the recorder, as
information), the delegate IPAM binary, the snapshot database (integrity and counts), the proxy
(admin /healthz), the link-state file, what the cache holds per resource, kubelet's kubeconfig,
the proxy's static pod, and whether the cloud keeps this node's pods through an outage (the
node's islet.dev/autonomy-duration, read through the proxy).
Exit code: 0 ready (warnings allowed), 1 problems found, 2 bad usage.

  --root DIR            host root file system                           (default /)
  --json                print the report as JSON
  --admin URL           proxy admin endpoint                (default http://${ADMIN_LISTEN})
  --proxy-url URL       where kubelet should be pointed     (default http://${PROXY_LISTEN})
  --bin-dir DIR         CNI binary directory                    (default ${CNI_BIN_DIR})
  --cni-conf-dir DIR    CNI configuration directory            (default ${CNI_CONF_DIR})
  --kubeconfig FILE     kubelet's kubeconfig        (default ${KUBELET_KUBECONFIG})
  --manifests-dir DIR   static pod directory           (default ${STATIC_POD_DIR})
  --host-path-prefix DIR  where kubelet sees the node's root (default /; as for islet install)
  --snapshot-db FILE    the plugin's database             (default ${IPAM_DB})
  --link-state FILE     link-state file                    (default ${LINK_STATE_FILE})
  --node-name NAME      this node's name in the cluster  (default: $NODE_NAME, else the host name)
  --watch SECONDS       check again every SECONDS, printing each report (runs until killed)
  --help                this text
`;

const FLAGS: FlagSpec = {
  root: { type: 'string', default: '/' },
  json: { type: 'boolean', default: false },
  admin: { type: 'string', default: `http://${ADMIN_LISTEN}` },
  'proxy-url': { type: 'string', default: `http://${PROXY_LISTEN}` },
  'bin-dir': { type: 'string', default: CNI_BIN_DIR },
  'cni-conf-dir': { type: 'string', default: CNI_CONF_DIR },
  kubeconfig: { type: 'string', default: KUBELET_KUBECONFIG },
  'manifests-dir': { type: 'string', default: STATIC_POD_DIR },
  'host-path-prefix': { type: 'string', default: '/' },
  'snapshot-db': { type: 'string', default: IPAM_DB },
  'link-state': { type: 'string', default: LINK_STATE_FILE },
  'node-name': { type: 'string' },
  watch: { type: 'string' },
  help: { type: 'boolean', default: false },
};

export interface DoctorOptions extends HostPaths {
  root: string;
  adminUrl: string;
  snapshotDb: string;
  linkState: string;
  nodeName: string;
}

export async function diagnose(o: DoctorOptions): Promise<Report> {
  const host = new HostRoot(o.root);
  const link = checkLinkState(host, o.linkState);
  const linkOnline = link.status === 'ok' ? true : link.status === 'warn' ? false : undefined;
  const findings: Finding[] = [
    checkPluginBinary(host, o),
    ...checkCni(host, o),
    checkSnapshotDb(host, o.snapshotDb),
    ...(await checkProxy(o.adminUrl, linkOnline)),
    link,
    checkKubeletKubeconfig(host, o),
    checkStaticPod(host, o),
    await checkAutonomy(o.proxyUrl, o.nodeName),
  ];
  return makeReport(o.root, findings);
}

function absolute(flags: Record<string, unknown>, name: string): string {
  const v = flags[name] as string;
  if (!v.startsWith('/'))
    throw new UsageError(`--${name} must be an absolute path as the node sees it, not "${v}"`);
  return v;
}

function url(flags: Record<string, unknown>, name: string): string {
  const v = flags[name] as string;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new UsageError(`--${name}: "${v}" is not an http(s) URL`);
  }
  return v.replace(/\/+$/, '');
}

export async function main(argv: string[]): Promise<number> {
  let options: DoctorOptions;
  let json: boolean;
  let watchSeconds: number | undefined;
  try {
    const { flags, rest } = parseFlags(argv, FLAGS);
    if (flags.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    json = flags.json as boolean;
    if (flags.watch !== undefined) {
      watchSeconds = Number(flags.watch);
      if (!Number.isInteger(watchSeconds) || watchSeconds < 1) {
        throw new UsageError(`--watch takes a whole number of seconds, not "${flags.watch}"`);
      }
    }
    options = {
      root: resolve(flags.root as string),
      adminUrl: url(flags, 'admin'),
      proxyUrl: url(flags, 'proxy-url'),
      binDir: absolute(flags, 'bin-dir'),
      cniConfDir: absolute(flags, 'cni-conf-dir'),
      kubeletKubeconfig: absolute(flags, 'kubeconfig'),
      manifestsDir: absolute(flags, 'manifests-dir'),
      hostPathPrefix: absolute(flags, 'host-path-prefix'),
      snapshotDb: absolute(flags, 'snapshot-db'),
      linkState: absolute(flags, 'link-state'),
      // The DaemonSet sets NODE_NAME from spec.nodeName (kubelet may run with --hostname-override);
      // otherwise kubelet's default node name: the host name, lower-cased.
      nodeName: (
        (flags['node-name'] as string | undefined) ??
        (process.env.NODE_NAME || undefined) ??
        hostname()
      ).toLowerCase(),
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`islet doctor: ${err.message}\n`);
    return 2;
  }
  // A reader that goes away (`islet doctor --watch | head`) ends the watch, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  for (;;) {
    const report = await diagnose(options);
    process.stdout.write(
      json ? `${JSON.stringify(report, null, watchSeconds ? 0 : 2)}\n` : renderText(report),
    );
    if (watchSeconds === undefined) return report.healthy ? 0 : 1;
    await sleep(watchSeconds * 1000);
  }
}
