/**
 * The whole offline story of an edge node, with real parts, once with islet and once without (the
 * control run): a control plane with kube-controller-manager (EndpointSlices, node lifecycle), a
 * node with containerd + kubelet + kube-proxy (+ the islet proxy and CNI plugin), three pods (a
 * ConfigMap volume, a Secret env var, a plain one), a Service over two of them, a LAN client that
 * reaches the Service's ClusterIP; then the link is cut for longer than the node lease and the
 * node-monitor grace period, the node reboots offline, and the link comes back.
 *
 * `runOfflineScenario` records what happened (it throws only when the online set-up fails);
 * `offline-reboot.test.ts` asserts on the islet run and `scripts/e2e-node.ts` prints it for people.
 */
import { readFileSync } from 'node:fs';
import { type ControlPlane, countsSince, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import { APP_IMAGE, EdgeNode } from './edge-node.js';
import { LanClient } from './lan-client.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON read field by field
type Loose = any;

export const NODE_MONITOR_GRACE = '20s';
/** kubelet's default nodeLeaseDurationSeconds (the test's KubeletConfiguration keeps it). */
const KUBELET_LEASE_SECONDS = 40;
const GREETING = 'hello from the cloud';
const SECRET_VALUE = 's3cret-from-the-cloud';
const HTTP_PORT = 8080;

/** The pods: name, what they carry, whether the Service selects them. */
export const PODS = [
  { name: 'web-config', carries: 'configmap', inService: true },
  { name: 'web-secret', carries: 'secret', inService: true },
  { name: 'solo', carries: 'nothing', inService: false },
] as const;
type PodName = (typeof PODS)[number]['name'];

export interface PodFacts {
  uid: string;
  ip: string;
}

export interface ScenarioResult {
  label: string;
  islet: boolean;
  before: Record<PodName, PodFacts>;
  clusterIp: string;
  /** Service → pods the API's EndpointSlices listed before the cut. */
  endpointsBefore: string[];
  reachableBefore: string | undefined;
  cut: {
    /** The controller manager marked the node Unknown (grace period passed). */
    nodeUnknown: boolean;
    /** The API server's copy of the node's Lease ran out. */
    leaseExpired: boolean;
    /** The Lease as the node sees it (through the islet proxy) was renewed during the cut. */
    localLeaseRenewed: boolean | undefined;
    kubeletAlive: boolean;
    ms: number;
  };
  reboot: {
    /** powerCut done → containerd, proxy, kubelet, kube-proxy started (offline). */
    bootMs: number;
    /** Boot start → every pod with a ready sandbox on its old IP and its container running; undefined: never within the wait. */
    podsBackMs: number | undefined;
    waitedMs: number;
    ips: Record<PodName, string | undefined>;
    config: string | undefined;
    secret: string | undefined;
    /** Boot start → a GET to the ClusterIP from the LAN client answered; undefined: never. */
    serviceBackMs: number | undefined;
    serviceAnswer: string | undefined;
    proxyAnswers: Map<string, number>;
  };
  restore: {
    /** heal → the API shows every pod Running in the container the node runs, node Ready. */
    ms: number | undefined;
    pods: Record<PodName, PodFacts & { phase: string }>;
    nodeReady: boolean;
    /** What the node cost the API server after the restore (apiserver_request_total deltas). */
    requests: Map<string, number>;
  };
  proxyRssKb: { max: number; last: number } | undefined;
  notes: string[];
}

export interface ScenarioOptions {
  islet: boolean;
  log?: (line: string) => void;
  /** How long to wait for the pods after the offline reboot (the control run's pods never come). */
  offlineWaitMs?: number;
}

const running = (p: Loose) =>
  p?.status?.phase === 'Running' &&
  (p.status.containerStatuses ?? []).every((c: Loose) => c.ready === true) &&
  typeof p.status.podIP === 'string';

/** `fn` until `ok`, or undefined after `ms` (a phase that may never finish is a result, not an error). */
async function within<T>(ms: number, fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (ok(v)) return v;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

function vmRssKb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function podSpec(name: string, carries: string, inService: boolean, nodeName: string): Loose {
  // Each pod serves what it saw at start: /index.html its name, /config the ConfigMap's key, /secret the env var.
  const script = [
    'mkdir -p /tmp/www',
    'hostname > /tmp/www/index.html',
    carries === 'configmap' ? 'cat /config/greeting > /tmp/www/config' : '',
    carries === 'secret' ? 'echo "$GREETING_SECRET" > /tmp/www/secret' : '',
    `exec httpd -f -p ${HTTP_PORT} -h /tmp/www`,
  ]
    .filter(Boolean)
    .join('; ');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: inService ? 'web' : 'solo' } },
    spec: {
      nodeName,
      // No token: a projected service-account token needs TokenRequest, a write the API server must answer.
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 2,
      // An edge workload stays bound to its node through any outage (no eviction after 300 s).
      tolerations: [
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
      ],
      containers: [
        {
          name,
          image: APP_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', script],
          ...(carries === 'configmap' ? { volumeMounts: [{ name: 'config', mountPath: '/config' }] } : {}),
          ...(carries === 'secret'
            ? {
                env: [
                  {
                    name: 'GREETING_SECRET',
                    valueFrom: { secretKeyRef: { name: 'web-secret', key: 'value' } },
                  },
                ],
              }
            : {}),
        },
      ],
      ...(carries === 'configmap'
        ? { volumes: [{ name: 'config', configMap: { name: 'web-config' } }] }
        : {}),
    },
  };
}

export async function runOfflineScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const label = o.islet ? 'islet' : 'without islet';
  const log = (line: string) => o.log?.(`[${label}] ${line}`);
  const notes: string[] = [];
  let cp: ControlPlane | undefined;
  let node: EdgeNode | undefined;
  let client: LanClient | undefined;
  let rss: { max: number; last: number } | undefined;
  const sampler = setInterval(() => {
    const kb = vmRssKb(node?.proxy?.proc.pid);
    if (kb === undefined) return;
    rss = { max: Math.max(rss?.max ?? 0, kb), last: kb };
  }, 1_000);
  const withLogs = (err: unknown) =>
    new Error(
      `${(err as Error).message}\nkubelet:\n${node?.kubelet?.log(40)}\nkube-proxy:\n${node?.kubeProxy?.log(30)}`,
    );
  try {
    cp = await startControlPlane({
      controllerManager: true,
      controllerManagerArgs: [
        `--node-monitor-grace-period=${NODE_MONITOR_GRACE}`,
        '--node-monitor-period=2s',
      ],
    });
    const admin = cp.admin;
    const ns = `offline-${process.pid}`;
    await cp.ensureNamespace(ns);
    // kube-proxy runs with the node's identity (through islet it has no other): the node
    // authorizer refuses a node list/watch of EndpointSlices, so the admin grants the node what
    // kube-proxy needs, as a cluster that runs kube-proxy this way must.
    await admin.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'edge-node-proxier' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-proxier' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `system:node:${cp.nodeName}` }],
    });
    notes.push(
      'kube-proxy as the node: EndpointSlices list/watch refused by the node authorizer; ClusterRole system:node-proxier bound to the node user',
    );
    // The service-account controller makes "default"; pod admission needs it.
    await eventually(
      'the default service account',
      () => admin.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`),
      (r) => r.status === 200,
      60_000,
    );

    node = await EdgeNode.create(cp, o.islet ? 228 : 229, { islet: o.islet, kubeProxy: true });
    await node.boot();
    if (!node.kubeProxyReady) throw withLogs(new Error('kube-proxy did not serve its metrics online'));
    client = await LanClient.create(node.bridge, node.gateway, `${node.prefix}.5`);
    log(
      `node up: bridge ${node.bridge} ${node.prefix}.0/24, LAN client ${client.address} in ${client.netns}`,
    );

    await admin.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config' },
      data: { greeting: GREETING },
    });
    await admin.ok('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'web-secret' },
      stringData: { value: SECRET_VALUE },
    });
    for (const p of PODS)
      await admin.ok(
        'POST',
        `/api/v1/namespaces/${ns}/pods`,
        podSpec(p.name, p.carries, p.inService, cp.nodeName),
      );
    const svc = await admin.ok('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: HTTP_PORT, protocol: 'TCP' }] },
    });
    const clusterIp: string = svc.spec.clusterIP;
    const podPath = (name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;

    const before = {} as Record<PodName, PodFacts>;
    for (const p of PODS) {
      const pod = await eventually(
        `${p.name} Running (API)`,
        () => admin.ok('GET', podPath(p.name)),
        running,
        240_000,
      ).catch((err) => {
        throw withLogs(err);
      });
      before[p.name] = { uid: pod.metadata.uid, ip: pod.status.podIP };
    }
    log(
      `pods Running: ${PODS.map((p) => `${p.name}=${before[p.name].ip}`).join(' ')}; Service web ${clusterIp}`,
    );
    const slices = await eventually(
      'EndpointSlices of web listing both pods ready',
      () =>
        admin.ok(
          'GET',
          `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`,
        ),
      (l: Loose) =>
        l.items.flatMap((s: Loose) => s.endpoints ?? []).filter((e: Loose) => e.conditions?.ready).length ===
        2,
      120_000,
    );
    const endpointsBefore: string[] = slices.items
      .flatMap((s: Loose) => s.endpoints ?? [])
      .map((e: Loose) => `${e.targetRef?.name}=${e.addresses[0]}`)
      .sort();
    const serviceAnswer = () => client!.get(`http://${clusterIp}/`);
    const isWeb = (body: string | undefined) => body === 'web-config\n' || body === 'web-secret\n';
    const reachableBefore = await eventually(
      'the ClusterIP answering from the LAN client',
      serviceAnswer,
      isWeb,
      120_000,
    ).catch((err) => {
      throw withLogs(err);
    });
    log(
      `ClusterIP ${clusterIp} answered "${reachableBefore?.trim()}" (kube-proxy syncs: ${await node.kubeProxy?.syncs()})`,
    );

    // --- the cut: longer than the node lease and the node-monitor grace period.
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${cp.nodeName}`;
    const localLease = async () =>
      o.islet
        ? ((await (await fetch(`${node!.proxyUrl}${leasePath}`)).json()) as Loose).spec?.renewTime
        : undefined;
    // kubelet creates its Lease some seconds after it registers the node (later still after a
    // create that failed): cut only once the API server has it and, with islet, the proxy serves
    // it, so the cut tests renewal rather than a Lease that never existed.
    await eventually(
      "the node's Lease in the API server (and through the proxy)",
      async () =>
        (await admin.request('GET', leasePath)).status === 200 &&
        (!o.islet || (await localLease().catch(() => undefined)) !== undefined),
      Boolean,
      90_000,
    ).catch((err) => {
      // The control run only records what happens; islet's run needs the Lease to mean anything.
      if (o.islet) throw withLogs(err);
      notes.push('no Lease for the node in the API server within 90 s of boot');
    });
    const localBefore = await localLease().catch(() => undefined);
    await cp.partition('refuse');
    const cutAt = Date.now();
    log('link cut');
    let leaseInApi = true;
    const expired = await within(
      180_000,
      async () => {
        const n = await admin.ok('GET', `/api/v1/nodes/${cp!.nodeName}`);
        const unknown = n.status.conditions.find((c: Loose) => c.type === 'Ready')?.status === 'Unknown';
        const l = await admin.request('GET', leasePath);
        // No Lease in the API at all: it expired at the latest a lease duration after the cut.
        leaseInApi = l.status !== 404;
        const leaseEnd = leaseInApi
          ? Date.parse(l.json.spec.renewTime) + l.json.spec.leaseDurationSeconds * 1000
          : cutAt + KUBELET_LEASE_SECONDS * 1000;
        return { unknown, leaseExpired: Date.now() > leaseEnd };
      },
      (v) => v.unknown && v.leaseExpired,
    );
    if (!leaseInApi)
      notes.push(
        "the API server had no Lease for the node before the cut (kubelet's lease create never reached it)",
      );
    const localAfter = await localLease().catch(() => undefined);
    const cut = {
      nodeUnknown: expired?.unknown ?? false,
      leaseExpired: expired?.leaseExpired ?? false,
      localLeaseRenewed: o.islet
        ? Boolean(localBefore && localAfter && Date.parse(localAfter) > Date.parse(localBefore))
        : undefined,
      kubeletAlive: node.kubelet?.running ?? false,
      ms: Date.now() - cutAt,
    };
    log(
      `after ${cut.ms} ms offline: node Unknown in the API ${cut.nodeUnknown}, API lease expired ${cut.leaseExpired}, local lease renewed ${cut.localLeaseRenewed} (${localBefore} → ${localAfter}), kubelet alive ${cut.kubeletAlive}`,
    );

    // --- the offline reboot.
    await node.powerCut();
    const bootAt = Date.now();
    await node.boot();
    const bootMs = Date.now() - bootAt;
    log(
      `rebooted offline in ${bootMs} ms (containerd, ${o.islet ? 'islet proxy, ' : ''}kubelet, kube-proxy)`,
    );
    if (!node.kubeProxyReady)
      notes.push('offline boot: kube-proxy served nothing (it waits for its Node from the API server)');
    const waitedMs = o.offlineWaitMs ?? (o.islet ? 240_000 : 90_000);
    const sandboxes = async () => {
      const out = {} as Record<PodName, string | undefined>;
      for (const p of PODS) {
        const s = await node!.readySandbox(p.name);
        out[p.name] = s?.ip && (await node!.runningContainer(p.name)) ? s.ip : undefined;
      }
      return out;
    };
    const back = await within(waitedMs, sandboxes, (ips) =>
      PODS.every((p) => ips[p.name] === before[p.name].ip),
    );
    const podsBackMs = back ? Date.now() - bootAt : undefined;
    const ips = back ?? (await sandboxes().catch(() => ({}) as Record<PodName, string | undefined>));
    log(
      `pods back on their old IPs: ${podsBackMs === undefined ? `never within ${waitedMs} ms` : `${podsBackMs} ms after boot start`} (${JSON.stringify(ips)})`,
    );
    const podGet = (name: PodName, path: string) =>
      ips[name] ? client!.get(`http://${ips[name]}:${HTTP_PORT}/${path}`) : Promise.resolve(undefined);
    const config = back ? await within(30_000, () => podGet('web-config', 'config'), Boolean) : undefined;
    const secret = back ? await within(30_000, () => podGet('web-secret', 'secret'), Boolean) : undefined;
    const serviceOffline = back
      ? await within(120_000, serviceAnswer, isWeb)
      : await within(10_000, serviceAnswer, isWeb);
    const serviceBackMs = serviceOffline ? Date.now() - bootAt : undefined;
    log(
      `offline: /config "${config?.trim()}", /secret "${secret?.trim()}", ClusterIP "${serviceOffline?.trim()}" (kube-proxy syncs ${await node.kubeProxy?.syncs()})`,
    );
    const proxyAnswers = await node.proxyRequests();
    if (!o.islet && podsBackMs === undefined)
      notes.push(
        `offline: no pod sandbox within ${waitedMs} ms (kubelet cannot list its pods without the API server)`,
      );

    // --- the link comes back.
    const countsBefore = await cp.requestCounts();
    await cp.heal();
    const healAt = Date.now();
    log('link restored');
    const restored = await within(
      300_000,
      async () => {
        const pods = {} as Record<PodName, PodFacts & { phase: string }>;
        for (const p of PODS) {
          const pod = await admin.ok('GET', podPath(p.name));
          const cid = await node!.runningContainer(p.name);
          const sb = await node!.readySandbox(p.name);
          if (
            !running(pod) ||
            pod.status.containerStatuses[0].containerID !== `containerd://${cid}` ||
            pod.status.podIP !== sb?.ip
          )
            return undefined;
          pods[p.name] = { uid: pod.metadata.uid, ip: pod.status.podIP, phase: pod.status.phase };
        }
        const n = await admin.ok('GET', `/api/v1/nodes/${cp!.nodeName}`);
        if (n.status.conditions.find((c: Loose) => c.type === 'Ready')?.status !== 'True') return undefined;
        return pods;
      },
      Boolean,
    );
    const restoreMs = restored ? Date.now() - healAt : undefined;
    // The Service once more, on the EndpointSlices the controller rewrote for the pods' current IPs.
    if (restored) await within(120_000, serviceAnswer, isWeb);
    const countsAfter = await cp.requestCounts();
    const requests = countsSince(countsBefore, countsAfter);
    const nodeObj = await admin.ok('GET', `/api/v1/nodes/${cp.nodeName}`);
    const restorePods =
      restored ??
      (Object.fromEntries(
        await Promise.all(
          PODS.map(async (p) => {
            const pod = await admin.ok('GET', podPath(p.name)).catch(() => undefined);
            return [
              p.name,
              {
                uid: pod?.metadata?.uid ?? '',
                ip: pod?.status?.podIP ?? '',
                phase: pod?.status?.phase ?? '?',
              },
            ];
          }),
        ),
      ) as Record<PodName, PodFacts & { phase: string }>);
    log(
      `restored: ${restoreMs === undefined ? 'not within 300 s' : `${restoreMs} ms`}; ${PODS.map((p) => `${p.name}=${restorePods[p.name].ip}`).join(' ')}`,
    );
    return {
      label,
      islet: o.islet,
      before,
      clusterIp,
      endpointsBefore,
      reachableBefore,
      cut,
      reboot: {
        bootMs,
        podsBackMs,
        waitedMs,
        ips,
        config,
        secret,
        serviceBackMs,
        serviceAnswer: serviceOffline,
        proxyAnswers,
      },
      restore: {
        ms: restoreMs,
        pods: restorePods,
        nodeReady: nodeObj.status.conditions.find((c: Loose) => c.type === 'Ready')?.status === 'True',
        requests,
      },
      proxyRssKb: rss,
      notes,
    };
  } finally {
    clearInterval(sampler);
    await client?.cleanup();
    await node?.cleanup();
    await cp?.close();
  }
}

export const expected = { greeting: GREETING, secret: SECRET_VALUE };
