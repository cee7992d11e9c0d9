/**
 * Checks of what is on the node's disk: the plugin binary, the CNI wiring (the IPAM wrapper; the
 * chained recorder as information), the delegate IPAM, kubelet's kubeconfig and the proxy's static pod.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { activeConfigName, inspectCniConfig, patchCniConfig } from '../installer/conflist.js';
import type { HostRoot } from '../installer/host-fs.js';
import { currentServer } from '../installer/kubeconfig.js';
import { staticPodPathProblem } from '../installer/kubelet-config.js';
import type { Finding } from './report.js';

export interface HostPaths {
  binDir: string;
  cniConfDir: string;
  kubeletKubeconfig: string;
  manifestsDir: string;
  proxyUrl: string;
  /** Where kubelet sees the node's root (islet install --host-path-prefix); "/" when omitted. */
  hostPathPrefix?: string;
}

function executable(host: HostRoot, path: string): boolean {
  const st = host.stat(path);
  return st !== undefined && !st.isDirectory && (st.mode & 0o111) !== 0;
}

export function checkPluginBinary(host: HostRoot, p: HostPaths): Finding {
  const path = join(p.binDir, 'islet');
  const st = host.stat(path);
  if (!st) {
    return { id: 'plugin-binary', status: 'fail', summary: `${path} is missing`, hint: 'run islet install' };
  }
  if (!executable(host, path)) {
    return {
      id: 'plugin-binary',
      status: 'fail',
      summary: `${path} is not an executable file (mode ${st.mode.toString(8)})`,
      hint: 'the container runtime cannot run it; run islet install again',
    };
  }
  return { id: 'plugin-binary', status: 'ok', summary: `${path} present and executable`, data: { path } };
}

/** The active CNI configuration's wiring, and whether the binaries it names exist. */
export function checkCni(host: HostRoot, p: HostPaths): Finding[] {
  let names: string[] = [];
  try {
    names = readdirSync(host.at(p.cniConfDir));
  } catch {
    // reported below as "no configuration"
  }
  const active = activeConfigName(names);
  if (!active) {
    return [
      {
        id: 'cni-config',
        status: 'fail',
        summary: `no CNI configuration in ${p.cniConfDir}`,
        hint: 'the network plugin has not written one yet; run islet install after it has',
      },
    ];
  }
  const path = join(p.cniConfDir, active);
  const text = host.read(path)!.toString('utf8');
  let wiring: ReturnType<typeof inspectCniConfig>;
  try {
    wiring = inspectCniConfig(active, text);
  } catch (err) {
    return [
      {
        id: 'cni-config',
        status: 'fail',
        summary: (err as Error).message,
        hint: 'the runtime cannot use it either',
      },
    ];
  }
  const data = { file: path, ...wiring };
  const findings: Finding[] = [];
  // The wrapper is what autonomy needs (sticky IPs, replay); the recorder is optional.
  const patch = wiring.wrapper ? undefined : patchCniConfig(active, text);
  if (wiring.wrapper) {
    findings.push({
      id: 'cni-config',
      status: 'ok',
      summary: `${path}: islet wraps the ${wiring.delegateType} IPAM of ${wiring.mainPluginType}`,
      data,
    });
  } else if (patch?.kind === 'unsupported') {
    findings.push({
      id: 'cni-config',
      status: 'warn',
      summary: `${path}: islet is not in this network (${patch.reason})`,
      hint: 'pods keep their IPs only as far as this network plugin itself allows; the proxy still works',
      data,
    });
  } else {
    findings.push({
      id: 'cni-config',
      status: 'fail',
      summary: `${path}: islet IPAM wrapper missing`,
      hint: 'run islet install (a network plugin that rewrites its configuration on start undoes the patch)',
      data,
    });
  }
  if (patch?.kind !== 'unsupported') findings.push(recorderFinding(path, wiring.recorder));
  for (const type of wiring.requiredBinaries) {
    const bin = join(p.binDir, type);
    const id =
      type === wiring.delegateType
        ? 'delegate-binary'
        : type === wiring.mainPluginType
          ? 'main-plugin-binary'
          : `plugin-binary:${type}`;
    findings.push(
      executable(host, bin)
        ? { id, status: 'ok', summary: `${bin} present`, data: { path: bin } }
        : {
            id,
            status: 'fail',
            summary: `${bin} is missing or not executable`,
            hint: `every pod ADD fails until the ${type} plugin is installed in ${p.binDir}`,
            data: { path: bin },
          },
    );
  }
  return findings;
}

/** Present or absent, neither is a problem: only CNI CHECK reads the recorder's record. */
function recorderFinding(path: string, present: boolean): Finding {
  return {
    id: 'cni-recorder',
    status: 'info',
    summary: present
      ? `${path}: islet is chained last as the recorder (its record serves CNI CHECK; one more plugin run per pod start and stop)`
      : `${path}: no chained recorder (not needed to keep IPs; islet install --chain-recorder adds it for CNI CHECK)`,
    data: { present },
  };
}

export function checkKubeletKubeconfig(host: HostRoot, p: HostPaths): Finding {
  const raw = host.read(p.kubeletKubeconfig);
  if (!raw) {
    return { id: 'kubelet-kubeconfig', status: 'fail', summary: `${p.kubeletKubeconfig} is missing` };
  }
  let server: string;
  try {
    server = currentServer(p.kubeletKubeconfig, raw.toString('utf8'));
  } catch (err) {
    return { id: 'kubelet-kubeconfig', status: 'fail', summary: (err as Error).message };
  }
  if (server !== p.proxyUrl) {
    return {
      id: 'kubelet-kubeconfig',
      status: 'fail',
      summary: `${p.kubeletKubeconfig} points at ${server}, not the proxy ${p.proxyUrl}`,
      hint: 'after an offline reboot kubelet cannot list its pods; run islet install and restart kubelet',
      data: { server },
    };
  }
  return {
    id: 'kubelet-kubeconfig',
    status: 'ok',
    summary: `kubelet talks to the proxy (${server})`,
    hint: 'kubelet reads its kubeconfig at start: restart it once after install',
    data: { server },
  };
}

export function checkStaticPod(host: HostRoot, p: HostPaths): Finding {
  const path = join(p.manifestsDir, 'islet-proxy.yaml');
  const raw = host.read(path);
  if (!raw) {
    return {
      id: 'static-pod',
      status: 'fail',
      summary: `${path} is missing`,
      hint: 'without it kubelet cannot start the proxy after an offline reboot; run islet install',
    };
  }
  let pod: { kind?: unknown; metadata?: unknown; spec?: { containers?: { command?: unknown }[] } };
  try {
    pod = parseYaml(raw.toString('utf8'));
  } catch (err) {
    return {
      id: 'static-pod',
      status: 'fail',
      summary: `${path}: not valid YAML: ${(err as Error).message}`,
    };
  }
  const command = pod?.spec?.containers?.[0]?.command;
  if (pod?.kind !== 'Pod' || !Array.isArray(command) || !command.includes('proxy')) {
    return { id: 'static-pod', status: 'fail', summary: `${path} is not the islet proxy pod` };
  }
  const podPathProblem = staticPodPathProblem(host, p.manifestsDir, p.hostPathPrefix);
  if (podPathProblem) {
    return {
      id: 'static-pod',
      status: 'fail',
      summary: podPathProblem,
      hint: 'kubelet never starts the proxy from there, online or offline',
    };
  }
  const installed = host.read(join(p.binDir, 'islet'));
  const named = (pod as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations?.[
    'islet.dev/binary-sha256'
  ];
  if (installed && named && createHash('sha256').update(installed).digest('hex') !== named) {
    return {
      id: 'static-pod',
      status: 'warn',
      summary: `${path} was written for another build than ${join(p.binDir, 'islet')}`,
      hint: 'the running proxy may be an older build; run islet install so kubelet restarts it',
      data: { path },
    };
  }
  return { id: 'static-pod', status: 'ok', summary: `${path} present`, data: { path } };
}
