/**
 * A set of objects of every kind the proxy prints Tables for, created as admin on the real control
 * plane with the statuses that exercise the printers' branches (pods waiting, crashing, completed,
 * terminating, with init containers and readiness gates; services of every type; ...). Statuses go
 * through the `/status` subresource, as the kubelet and the controllers would write them.
 */
import type { ControlPlane } from './control-plane.js';

export interface TableObjects {
  namespace: string;
  /** Pod names, all bound to the node. */
  pods: string[];
  configMap: string;
  secret: string;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON written by hand.
type Obj = any;

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

async function createWithStatus(cp: ControlPlane, path: string, obj: Obj, status?: Obj): Promise<Obj> {
  const created = await cp.admin.ok('POST', path, obj);
  if (!status) return created;
  return cp.admin.ok('PUT', `${path}/${created.metadata.name}/status`, { ...created, status });
}

const container = (name: string, extra: Obj = {}) => ({
  name,
  image: `registry.example/${name}:1.0`,
  ...extra,
});

export async function createTableObjects(cp: ControlPlane, namespace: string): Promise<TableObjects> {
  await cp.ensureNamespace(namespace);
  const ns = `/api/v1/namespaces/${namespace}`;
  const node = cp.nodeName;
  await cp.admin.ok('POST', `${ns}/configmaps`, { metadata: { name: 'cm1' }, data: { a: '1', b: '2' } });
  await cp.admin.ok('POST', `${ns}/secrets`, {
    metadata: { name: 's1' },
    type: 'Opaque',
    data: { k: Buffer.from('v').toString('base64') },
  });
  const volumes = [
    { name: 'c', configMap: { name: 'cm1' } },
    { name: 's', secret: { secretName: 's1' } },
  ];
  const spec = (containers: Obj[], extra: Obj = {}) => ({ nodeName: node, containers, volumes, ...extra });
  const running = (name: string, restartCount = 0, extra: Obj = {}) => ({
    name,
    ready: true,
    restartCount,
    image: `registry.example/${name}:1.0`,
    imageID: '',
    started: true,
    state: { running: { startedAt: ago(3000) } },
    ...extra,
  });
  const podStatus = (phase: string, containerStatuses: Obj[], extra: Obj = {}) => ({
    phase,
    podIP: '10.244.0.7',
    podIPs: [{ ip: '10.244.0.7' }],
    hostIP: '192.0.2.10',
    startTime: ago(3600),
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(3000) }],
    containerStatuses,
    ...extra,
  });
  const pods: [string, Obj, Obj | undefined][] = [
    ['pending', spec([container('app')]), undefined],
    [
      'running',
      spec([container('app'), container('side')]),
      podStatus('Running', [
        running('app', 3, {
          lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(310) } },
        }),
        running('side'),
      ]),
    ],
    [
      'creating',
      spec([container('app')]),
      podStatus('Pending', [
        {
          name: 'app',
          ready: false,
          restartCount: 0,
          image: 'registry.example/app:1.0',
          imageID: '',
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ]),
    ],
    [
      'crashing',
      spec([container('app')]),
      podStatus('Running', [
        {
          name: 'app',
          ready: false,
          restartCount: 7,
          image: 'registry.example/app:1.0',
          imageID: '',
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } },
          lastState: { terminated: { exitCode: 2, reason: 'Error', finishedAt: ago(7300) } },
        },
      ]),
    ],
    [
      'completed',
      spec([container('job')], { restartPolicy: 'Never' }),
      podStatus('Succeeded', [
        {
          name: 'job',
          ready: false,
          restartCount: 0,
          image: 'registry.example/job:1.0',
          imageID: '',
          state: {
            terminated: { exitCode: 0, reason: 'Completed', finishedAt: ago(120), startedAt: ago(200) },
          },
        },
      ]),
    ],
    [
      'init',
      spec([container('app')], { initContainers: [container('setup'), container('migrate')] }),
      podStatus(
        'Pending',
        [
          {
            name: 'app',
            ready: false,
            restartCount: 0,
            image: 'registry.example/app:1.0',
            imageID: '',
            state: { waiting: { reason: 'PodInitializing' } },
          },
        ],
        {
          initContainerStatuses: [
            {
              name: 'setup',
              ready: true,
              restartCount: 0,
              image: 'registry.example/setup:1.0',
              imageID: '',
              state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: ago(100) } },
            },
            {
              name: 'migrate',
              ready: false,
              restartCount: 1,
              image: 'registry.example/migrate:1.0',
              imageID: '',
              state: { running: { startedAt: ago(50) } },
            },
          ],
        },
      ),
    ],
    [
      'gated',
      spec([container('app')], { readinessGates: [{ conditionType: 'example.com/lb' }] }),
      podStatus('Running', [running('app')], {
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: ago(3000) },
          { type: 'example.com/lb', status: 'True', lastTransitionTime: ago(3000) },
        ],
      }),
    ],
    [
      'failed',
      spec([container('app')]),
      podStatus('Failed', [], { reason: 'Evicted', message: 'The node was low on resource: memory.' }),
    ],
    ['terminating', spec([container('app')]), podStatus('Running', [running('app')])],
  ];
  const names: string[] = [];
  for (const [name, podSpec, status] of pods) {
    const meta: Obj = { name: `p-${name}`, labels: { app: name } };
    if (name === 'terminating') meta.finalizers = ['islet.test/hold'];
    await createWithStatus(cp, `${ns}/pods`, { metadata: meta, spec: podSpec }, status);
    names.push(meta.name);
  }
  // A finalizer holds it: deletionTimestamp set, the object stays (Terminating).
  await cp.admin.ok('DELETE', `${ns}/pods/p-terminating`, { gracePeriodSeconds: 30 });

  // The node object (the kubelet would register it; NodeRestriction keeps the node to its own).
  const nodeExists = await cp.admin.request('GET', `/api/v1/nodes/${node}`);
  if (nodeExists.status === 404) {
    await createWithStatus(
      cp,
      '/api/v1/nodes',
      {
        metadata: { name: node, labels: { 'node-role.kubernetes.io/edge': '', 'kubernetes.io/os': 'linux' } },
      },
      {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: ago(10),
            lastTransitionTime: ago(4000),
          },
        ],
        addresses: [
          { type: 'InternalIP', address: '192.0.2.10' },
          { type: 'Hostname', address: node },
        ],
        nodeInfo: {
          machineID: '',
          systemUUID: '',
          bootID: '',
          kernelVersion: '6.1.0-edge',
          osImage: 'Debian GNU/Linux 12 (bookworm)',
          containerRuntimeVersion: 'containerd://2.1.0',
          kubeletVersion: 'v1.35.4',
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    );
  }

  // Services of every type.
  const svc = (name: string, spec: Obj) =>
    cp.admin.ok('POST', `${ns}/services`, { metadata: { name }, spec });
  await svc('web', {
    selector: { app: 'running' },
    ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
  });
  await svc('headless', {
    clusterIP: 'None',
    selector: { app: 'x' },
    ports: [{ port: 53, protocol: 'UDP' }],
  });
  await svc('np', {
    type: 'NodePort',
    ports: [
      { port: 443, protocol: 'TCP', name: 'https' },
      { port: 53, protocol: 'UDP', name: 'dns' },
    ],
  });
  const lb = await svc('lb', { type: 'LoadBalancer', externalIPs: ['198.51.100.9'], ports: [{ port: 80 }] });
  await cp.admin.ok('PUT', `${ns}/services/lb/status`, {
    ...lb,
    status: { loadBalancer: { ingress: [{ ip: '203.0.113.5' }, { hostname: 'lb.example.com' }] } },
  });
  await svc('ext', { type: 'ExternalName', externalName: 'db.example.com' });

  const slices = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
  await cp.admin.ok('POST', slices, {
    metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.0.7'], conditions: { ready: true }, nodeName: node },
      { addresses: ['10.244.0.8', '10.244.0.9'], conditions: { ready: false } },
      { addresses: ['10.244.0.10', '10.244.0.11'] },
    ],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 9090 }],
  });
  await cp.admin.ok('POST', slices, {
    metadata: { name: 'empty' },
    addressType: 'IPv6',
    endpoints: [],
    ports: [],
  });

  await cp.admin.ok('POST', `${ns}/events`, {
    metadata: { name: 'ev1' },
    involvedObject: { kind: 'Pod', namespace, name: 'p-running', fieldPath: 'spec.containers{app}' },
    reason: 'BackOff',
    message: 'Back-off restarting failed container',
    type: 'Warning',
    count: 4,
    firstTimestamp: ago(900),
    lastTimestamp: ago(30),
    source: { component: 'kubelet', host: node },
  });
  await cp.admin.ok('POST', `${ns}/events`, {
    metadata: { name: 'ev2' },
    involvedObject: { kind: 'Pod', namespace, name: 'p-pending' },
    reason: 'Scheduled',
    message: 'Successfully assigned',
    type: 'Normal',
    eventTime: new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z'),
    reportingComponent: 'default-scheduler',
    reportingInstance: 'sched-1',
    action: 'Binding',
  });
  await cp.admin.ok('POST', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
    metadata: { name: 'ev3' },
    regarding: { kind: 'Pod', namespace, name: 'p-crashing' },
    reason: 'Pulled',
    note: 'Container image pulled',
    type: 'Normal',
    eventTime: new Date(Date.now() - 90_000).toISOString().replace('Z', '000Z'),
    reportingController: 'kubelet',
    reportingInstance: node,
    action: 'Pull',
  });

  const leaseExists = await cp.admin.request(
    'GET',
    `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`,
  );
  if (leaseExists.status === 404) {
    await cp.admin.ok('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      metadata: { name: node },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: 40,
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    });
  }
  await cp.admin.ok('POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
    metadata: { name: 'unheld' },
    spec: {},
  });

  const apps = `/apis/apps/v1/namespaces/${namespace}`;
  const template = (app: string) => ({
    metadata: { labels: { app } },
    spec: { containers: [container('app'), container('side', { image: 'registry.example/side:2' })] },
  });
  await createWithStatus(
    cp,
    `${apps}/deployments`,
    {
      metadata: { name: 'dep' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'dep' } }, template: template('dep') },
    },
    { replicas: 3, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 },
  );
  await createWithStatus(
    cp,
    `${apps}/replicasets`,
    {
      metadata: { name: 'rs' },
      spec: {
        replicas: 2,
        selector: {
          matchLabels: { app: 'rs' },
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }],
        },
        template: { ...template('rs'), metadata: { labels: { app: 'rs', tier: 'a' } } },
      },
    },
    { replicas: 2, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 },
  );
  await createWithStatus(
    cp,
    `${apps}/daemonsets`,
    {
      metadata: { name: 'ds' },
      spec: {
        selector: { matchLabels: { app: 'ds' } },
        template: {
          ...template('ds'),
          spec: { ...template('ds').spec, nodeSelector: { 'kubernetes.io/os': 'linux' } },
        },
      },
    },
    {
      desiredNumberScheduled: 4,
      currentNumberScheduled: 3,
      numberReady: 2,
      updatedNumberScheduled: 3,
      numberAvailable: 2,
      numberMisscheduled: 0,
      observedGeneration: 1,
    },
  );
  return { namespace, pods: names, configMap: 'cm1', secret: 's1' };
}
