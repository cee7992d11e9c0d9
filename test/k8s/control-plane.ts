/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver (and, when asked,
 * kube-controller-manager) from `npm run k8s:build`, on loopback ports, with their own PKI and temp
 * dirs, behind a TCP relay that plays the node's WAN link.
 *
 *   const cp = await startControlPlane();            // etcd + kube-apiserver, /readyz green
 *   cp.url                                            // the relay: what the node (proxy) talks to
 *   cp.directUrl                                      // the API server itself (admin, metrics)
 *   cp.nodeCert                                       // CN=system:node:edge-1, O=system:nodes
 *   await cp.admin.create('pods', obj)                // admin (system:masters) client
 *   await cp.partition('refuse' | 'blackhole'); await cp.heal();
 *   await cp.compact()                                // etcd compaction: older RVs answer 410
 *   await cp.requestCounts()                          // apiserver_request_total by verb/resource
 *   await cp.close()                                  // process groups killed, temp dirs removed
 *
 * The API server runs with client-certificate authentication, --authorization-mode=Node,RBAC and
 * the NodeRestriction admission plugin, so the node identity is refused exactly what a real
 * node is refused.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../free-port.js';
import { upstreamArgs } from '../proxy/harness.js';
import { type ClientAuth, type RawResponse, rawRequest } from '../sim/client.js';
import { type CertFiles, createPki, mintClientCert, type Pki } from '../sim/pki.js';
import { k8sBin, k8sBinDir } from './bin.js';
import { type LinkMode, Relay } from './relay.js';

const run = promisify(execFile);

export { k8sBin, k8sBinDir };

/** Why the real control plane cannot run here, or '' when it can (tests skip with this reason). */
export function controlPlaneMissing(): string {
  const missing = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'].filter(
    (b) => !existsSync(k8sBin(b)),
  );
  return missing.length
    ? `real control plane not built (${missing.join(', ')} missing in ${k8sBinDir}): run npm run k8s:build`
    : '';
}

export const NODE_NAME = 'edge-1';

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager (namespaces' service accounts, EndpointSlices, node lifecycle). */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags, e.g. ['--watch-cache=false']. */
  apiserverArgs?: string[];
  /** Extra kube-controller-manager flags, e.g. ['--node-monitor-grace-period=20s']. */
  controllerManagerArgs?: string[];
  nodeName?: string;
}

/** A child in its own process group, its output in a log file (kept in the temp dir for failures). */
export class Component {
  readonly proc: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    bin: string,
    args: string[],
    readonly logPath: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const fd = openSync(logPath, 'a');
    this.proc = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    live.add(this);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  log(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    live.delete(this);
    if (!this.running) return;
    killGroup(this.proc, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.proc, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (proc.pid) process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
}

// Whatever happens to the test process, no etcd or API server outlives it.
const live = new Set<Component>();
process.once('exit', () => {
  for (const c of live) killGroup(c.proc, 'SIGKILL');
});

/** Admin access to the real API server, bypassing the relay. */
export class AdminClient {
  constructor(
    readonly base: string,
    private readonly auth: ClientAuth,
  ) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<RawResponse> {
    return rawRequest(this.base, this.auth, method, path, body, headers);
  }

  /** The JSON answer of a request that must succeed. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
  async ok(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
    const r = await this.request(method, path, body, headers);
    if (r.status >= 300)
      throw new Error(`${method} ${path} → ${r.status}: ${r.body.toString().slice(0, 500)}`);
    return r.json;
  }
}

export interface ControlPlane {
  /** The relay in front of kube-apiserver: the node's link to the cloud. */
  url: string;
  /** kube-apiserver itself. */
  directUrl: string;
  dir: string;
  pki: Pki;
  caPath: string;
  adminCert: CertFiles;
  nodeCert: CertFiles;
  nodeName: string;
  admin: AdminClient;
  relay: Relay;
  /** etcd's client URL (compaction, revisions). */
  etcdUrl: string;
  apiserver: Component;
  etcd: Component;
  controllerManager?: Component;
  startupMs: number;
  partition(mode: 'refuse' | 'blackhole'): Promise<void>;
  heal(): Promise<void>;
  readonly link: LinkMode;
  /** Compact etcd up to its current revision: every older resourceVersion is gone (410). */
  compact(): Promise<number>;
  /** apiserver_request_total summed by `verb resource[/subresource]`, read from the server's /metrics. */
  requestCounts(): Promise<Map<string, number>>;
  /** A kubeconfig file for `cert` (default admin) against `server` (default the API server). */
  writeKubeconfig(o?: { cert?: CertFiles; server?: string; path?: string }): string;
  /** Make a namespace (and its default ServiceAccount when no controller manager runs). */
  ensureNamespace(name: string): Promise<void>;
  close(): Promise<void>;
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeout: 30_000 });
}

async function waitReady(admin: AdminClient, components: Component[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    for (const c of components) {
      if (!c.running) throw new Error(`${c.name} exited during start-up:\n${c.log()}`);
    }
    try {
      const r = await admin.request('GET', '/readyz');
      if (r.status === 200) return;
      last = `${r.status} ${r.body.toString().slice(0, 300)}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `kube-apiserver not ready after ${timeoutMs} ms (${last}):\n${components.map((c) => c.log()).join('\n')}`,
  );
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const why = controlPlaneMissing();
  if (why) throw new Error(why);
  const started = Date.now();
  const nodeName = opts.nodeName ?? NODE_NAME;
  const dir = mkdtempSync(join(tmpdir(), 'islet-k8s-'));
  const components: Component[] = [];
  const relayRef: { relay?: Relay } = {};
  const cleanup = async () => {
    await relayRef.relay?.close();
    for (const c of components.reverse()) await c.stop();
    if (!process.env.ISLET_KEEP_K8S) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pki = await createPki(dir);
    const adminCert = await mintClientCert(pki, '', { cn: 'islet-test-admin', o: ['system:masters'] });
    const nodeCert = await mintClientCert(pki, nodeName);
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey]);
    await openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]);

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = new Component(
      'etcd',
      k8sBin('etcd'),
      [
        '--name=islet-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=islet-test=http://127.0.0.1:${peerPort}`,
        // A test cluster's data is thrown away: fsync buys nothing and costs seconds on shared disks.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
    );
    components.push(etcd);

    const directUrl = `https://127.0.0.1:${apiPort}`;
    const apiserver = new Component(
      'kube-apiserver',
      k8sBin('kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.server.certPath}`,
        `--tls-private-key-file=${pki.server.keyPath}`,
        `--client-ca-file=${pki.caPath}`,
        `--kubelet-client-certificate=${adminCert.certPath}`,
        `--kubelet-client-key=${adminCert.keyPath}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        '--profiling=false',
        '--v=1',
        ...(opts.apiserverArgs ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
    components.push(apiserver);

    const adminAuth: ClientAuth = { ca: pki.caPem, cert: adminCert };
    const admin = new AdminClient(directUrl, adminAuth);
    await waitReady(admin, components, 90_000);

    const writeKubeconfig = (o: { cert?: CertFiles; server?: string; path?: string } = {}): string => {
      const cert = o.cert ?? adminCert;
      const path = o.path ?? join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            { name: 'real', cluster: { server: o.server ?? directUrl, 'certificate-authority': pki.caPath } },
          ],
          users: [{ name: 'u', user: { 'client-certificate': cert.certPath, 'client-key': cert.keyPath } }],
          contexts: [{ name: 'real', context: { cluster: 'real', user: 'u' } }],
          'current-context': 'real',
        }),
        { mode: 0o600 },
      );
      return path;
    };

    let controllerManager: Component | undefined;
    if (opts.controllerManager) {
      controllerManager = new Component(
        'kube-controller-manager',
        k8sBin('kube-controller-manager'),
        [
          `--kubeconfig=${writeKubeconfig()}`,
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${pki.caPath}`,
          `--cluster-signing-cert-file=${pki.caPath}`,
          `--cluster-signing-key-file=${pki.caKeyPath}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          '--secure-port=0',
          '--use-service-account-credentials=false',
          '--v=1',
          ...(opts.controllerManagerArgs ?? []),
        ],
        join(dir, 'kube-controller-manager.log'),
      );
      components.push(controllerManager);
    }

    const relay = new Relay({ host: '127.0.0.1', port: apiPort });
    relayRef.relay = relay;
    await relay.start();

    const startupMs = Date.now() - started;
    process.stderr.write(
      `[control-plane] etcd + kube-apiserver${controllerManager ? ' + kube-controller-manager' : ''} ready in ${startupMs} ms (${directUrl}, relay ${relay.url})\n`,
    );

    const etcdPost = async (path: string, body: unknown): Promise<{ header?: { revision?: string } }> => {
      const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`etcd ${path} → ${res.status}: ${await res.text()}`);
      return (await res.json()) as { header?: { revision?: string } };
    };

    return {
      url: relay.url,
      directUrl,
      dir,
      pki,
      caPath: pki.caPath,
      adminCert,
      nodeCert,
      nodeName,
      admin,
      relay,
      etcdUrl,
      apiserver,
      etcd,
      controllerManager,
      startupMs,
      partition: (mode) => relay.partition(mode),
      heal: () => relay.heal(),
      get link() {
        return relay.state;
      },
      async compact() {
        // etcd's gRPC gateway: the current revision from an empty range, then a physical compaction.
        const head = await etcdPost('/v3/kv/range', { key: Buffer.from('\0').toString('base64') });
        const revision = Number(head.header?.revision ?? 0);
        await etcdPost('/v3/kv/compaction', { revision: String(revision), physical: true });
        return revision;
      },
      async requestCounts() {
        const text = (await admin.request('GET', '/metrics')).body.toString();
        const counts = new Map<string, number>();
        for (const line of text.split('\n')) {
          if (!line.startsWith('apiserver_request_total{')) continue;
          const labels = Object.fromEntries(
            [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
          );
          const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
          counts.set(key, (counts.get(key) ?? 0) + Number(line.split(' ').pop()));
        }
        return counts;
      },
      writeKubeconfig,
      async ensureNamespace(name) {
        const ns = await admin.request('POST', '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name },
        });
        if (ns.status >= 300 && ns.status !== 409)
          throw new Error(`create namespace ${name}: ${ns.status} ${ns.body}`);
        if (controllerManager) return;
        // Without the service-account controller nobody makes "default", and pod admission needs it.
        const sa = await admin.request('POST', `/api/v1/namespaces/${name}/serviceaccounts`, {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: 'default' },
        });
        if (sa.status >= 300 && sa.status !== 409)
          throw new Error(`create serviceaccount: ${sa.status} ${sa.body}`);
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** `islet proxy` flags for the node's upstream: the relay (the WAN link), the CA and the node's certificate. */
export function nodeUpstreamArgs(cp: Pick<ControlPlane, 'url' | 'caPath' | 'nodeCert'>): string[] {
  return upstreamArgs(cp, cp.nodeCert);
}

/** The difference `after - before` of two requestCounts() snapshots, zero entries dropped. */
export function countsSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}
