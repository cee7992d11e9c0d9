/**
 * Running `dist/islet webhook` against the real control plane: the test bed's service account with
 * the RBAC of daemonset/cloud/rbac.yaml (so least privilege is what is tested), a
 * MutatingWebhookConfiguration pointing at a loopback URL, and node heartbeats the test can stop.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../free-port.js';
import { isletBinary, repoRoot } from '../islet-binary.js';
import type { ControlPlane, ControlPlaneOptions } from '../k8s/control-plane.js';
import { k8sBin } from '../k8s/control-plane.js';
import { untilListening } from '../listening.js';

const run = promisify(execFile);

/** Applies the shipped namespace + RBAC and returns a kubeconfig holding the webhook SA's token. */
async function webhookKubeconfig(cp: ControlPlane): Promise<string> {
  const admin = cp.writeKubeconfig();
  for (const f of ['namespace.yaml', 'rbac.yaml']) {
    await run(
      k8sBin('kubectl'),
      ['--kubeconfig', admin, 'apply', '-f', join(repoRoot, 'daemonset/cloud', f)],
      {
        timeout: 60_000,
      },
    );
  }
  const tr = await cp.admin.ok(
    'POST',
    '/api/v1/namespaces/islet-system/serviceaccounts/islet-webhook/token',
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    },
  );
  const path = join(cp.dir, 'webhook-kubeconfig');
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'real', cluster: { server: cp.directUrl, 'certificate-authority': cp.caPath } }],
      users: [{ name: 'webhook', user: { token: tr.status.token } }],
      contexts: [{ name: 'real', context: { cluster: 'real', user: 'webhook' } }],
      'current-context': 'real',
    }),
    { mode: 0o600 },
  );
  return path;
}

/** The shipped webhook configuration, pointed at a loopback URL instead of the Service. */
function loopbackWebhookConfig(port: number): unknown {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'islet-webhook' },
    webhooks: [
      {
        name: 'pods.autonomy.islet.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
        rules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            operations: ['CREATE'],
            scope: 'Namespaced',
          },
        ],
      },
    ],
  };
}

/**
 * A control plane whose node lifecycle and taint eviction controllers act within a test's patience:
 * the API server's default tolerations `defaultSeconds`, a node NotReady `grace` after its last
 * Lease renewal.
 */
export function evictingControlPlane(defaultSeconds: number, grace: string): ControlPlaneOptions {
  return {
    controllerManager: true,
    apiserverArgs: [
      `--default-not-ready-toleration-seconds=${defaultSeconds}`,
      `--default-unreachable-toleration-seconds=${defaultSeconds}`,
    ],
    controllerManagerArgs: [
      `--node-monitor-grace-period=${grace}`,
      '--node-monitor-period=1s',
      '--node-startup-grace-period=10s',
      // One node tainted per 0.1 s, not per 10 s; and a zone with most of its nodes down is still
      // "normal" here (by default it would be a partial disruption that stops evictions).
      '--node-eviction-rate=10',
      '--unhealthy-zone-threshold=1',
    ],
  };
}

/**
 * Readies the control plane for `islet webhook` on a loopback port: the shipped RBAC with a token
 * kubeconfig, and the shipped MutatingWebhookConfiguration pointed at a free port; returns the
 * webhook's flags to serve there (default tolerations raised to `defaultSeconds` elsewhere).
 */
export async function registerLoopbackWebhook(cp: ControlPlane, defaultSeconds: number): Promise<string[]> {
  const kubeconfig = await webhookKubeconfig(cp);
  const port = await freePort();
  await cp.admin.ok(
    'POST',
    '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    loopbackWebhookConfig(port),
  );
  return loopbackWebhookArgs(port, kubeconfig, defaultSeconds);
}

/** `islet webhook`'s flags for serving on loopback `port` (the URL of loopbackWebhookConfig). */
function loopbackWebhookArgs(port: number, kubeconfig: string, defaultSeconds: number): string[] {
  return [
    '--listen',
    `127.0.0.1:${port}`,
    '--san',
    '127.0.0.1',
    '--kubeconfig',
    kubeconfig,
    '--default-toleration-seconds',
    String(defaultSeconds),
  ];
}

export interface RunningWebhook {
  url: string;
  proc: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

export async function startWebhook(args: string[], timeoutMs = 30_000): Promise<RunningWebhook> {
  const proc = spawn(isletBinary, ['webhook', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const { listen } = await untilListening(proc, 'webhook', logs, timeoutMs);
  return {
    url: `https://${listen}`,
    proc,
    logs,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** MicroTime as the API wants it (six fractional digits). */
const micro = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * Nodes as a kubelet would keep them alive: Ready status once, then a Lease renewed every second
 * until `cut(name)` — which, from the cloud, is what a cut link looks like.
 */
export class Heartbeats {
  private readonly alive = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly cp: ControlPlane) {}

  async addNode(name: string, annotations: Record<string, string> = {}): Promise<void> {
    await this.cp.admin.ok('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, annotations },
    });
    const now = new Date().toISOString();
    await this.cp.admin.ok(
      'PATCH',
      `/api/v1/nodes/${name}/status`,
      {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'test',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    await this.cp.admin.ok('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: micro() },
    });
    this.alive.add(name);
    this.timer ??= setInterval(() => void this.renew(), 1_000);
  }

  private async renew(): Promise<void> {
    for (const name of this.alive) {
      await this.cp.admin
        .request(
          'PATCH',
          `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`,
          { spec: { renewTime: micro() } },
          { 'Content-Type': 'application/merge-patch+json' },
        )
        .catch(() => undefined);
    }
  }

  cut(name: string): void {
    this.alive.delete(name);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
