/**
 * The one `islet` executable. With CNI_COMMAND in the environment it is the CNI plugin (that is
 * how a container runtime calls /opt/cni/bin/islet); otherwise it runs a subcommand. Each mode's
 * modules are imported lazily so a CNI call pays only for the plugin's code.
 */
import { VERSION } from '../lib/version.js';
import { cniMain } from './cni.js';

const USAGE = `islet ${VERSION}: node-level offline autonomy for Kubernetes edge nodes

Usage:
  islet proxy [flags]       run the caching API proxy (islet proxy --help)
  islet install [flags]     install the plugin, proxy and kubeconfig redirect on this node
  islet uninstall [flags]   restore every file install changed
  islet doctor [flags]      check this node's autonomy readiness
  islet webhook [flags]     (cloud side) keep autonomous nodes' pods from eviction in an outage
  islet version             print the version
  islet help                this text

As a CNI plugin (CNI_COMMAND set) it is the islet IPAM wrapper / chained recorder.
`;

type Main = (argv: string[]) => Promise<number>;

const subcommands: Record<string, () => Promise<Main>> = {
  proxy: async () => (await import('../proxy/main.js')).main,
  install: async () => (await import('../daemonset/installer/main.js')).installMain,
  uninstall: async () => (await import('../daemonset/installer/main.js')).uninstallMain,
  doctor: async () => (await import('../daemonset/doctor/main.js')).main,
  webhook: async () => (await import('../webhook/main.js')).main,
};

async function run(): Promise<number> {
  if (process.env.CNI_COMMAND !== undefined) return cniMain();
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'version' || cmd === '--version') {
    process.stdout.write(`islet ${VERSION}\n`);
    return 0;
  }
  const load = subcommands[cmd];
  if (!load) {
    process.stderr.write(`islet: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`islet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
