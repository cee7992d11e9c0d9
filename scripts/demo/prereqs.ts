import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What the demo needs on the machine, each with the exact way to get it. */
interface Requirement {
  what: string;
  present: () => boolean;
  fix: string;
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

export function requirements(isletBinary: string): Requirement[] {
  return [
    {
      what: 'root (the demo creates network namespaces and a bridge)',
      present: () => process.getuid?.() === 0,
      fix: 'run it as root: sudo npm run demo',
    },
    {
      what: 'the ip command (iproute2)',
      present: () => onPath('ip'),
      fix: 'apt-get install -y iproute2',
    },
    {
      what: 'Debian CNI plugins /usr/lib/cni/bridge and /usr/lib/cni/host-local',
      present: () => existsSync('/usr/lib/cni/bridge') && existsSync('/usr/lib/cni/host-local'),
      fix: 'apt-get install -y containernetworking-plugins',
    },
    {
      what: 'cnitool (libcni, the CNI runtime that drives the plugins)',
      present: () => onPath('cnitool'),
      fix: 'bash scripts/setup.sh (builds the pinned cnitool into .k8s/bin from test/k8s/go.mod)',
    },
    {
      what: 'kubectl (the client that reads pods through the proxy)',
      present: () => onPath('kubectl'),
      fix: 'bash scripts/setup.sh (builds the pinned kubectl into .k8s/bin)',
    },
    {
      what: `the built binary ${isletBinary}`,
      present: () => existsSync(isletBinary),
      fix: 'npm run build (npm run demo builds it first)',
    },
  ];
}

/** The requirements that are not met, as "what: how to fix" lines. */
export function missingRequirements(isletBinary: string): string[] {
  return requirements(isletBinary)
    .filter((r) => !r.present())
    .map((r) => `${r.what} is missing → ${r.fix}`);
}

/** ping is optional: without it the demo shows addresses but not that a sandbox can use them. */
export const hasPing = (): boolean => onPath('ping');
