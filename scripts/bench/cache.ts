/**
 * Benchmark of the proxy's cache store (proxy/cache). Not a test: `npm run bench:cache`.
 *
 * In one run it measures, each against a baseline of the unavoidable JSON work on the same data:
 *  (a) applyList of 10,000 pods into a fresh store (one transaction, synchronous=FULL), against
 *      JSON.stringify of the same items;
 *  (b) an offline LIST answer of 1,000 pods (kubelet's own node: fieldSelector=spec.nodeName)
 *      out of the 10,000, against JSON.stringify of those 1,000 pods held in memory;
 *  (c) an offline GET of one pod (LRU warm and cold) and a watch-event upsert.
 * Medians over ISLET_BENCH_ROUNDS rounds (default 15; applyList: 5).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CacheStore } from '../../proxy/cache/store.js';
import { parseRequestInfo } from '../../proxy/request-info.js';
import { offlineGet, offlineList } from '../../proxy/serve/offline-read.js';
import type { Gvr, Identity, KubeObject, ViewKey } from '../../proxy/types.js';

const ROUNDS = Number(process.env.ISLET_BENCH_ROUNDS ?? 15);
const pods: Gvr = { group: '', version: 'v1', resource: 'pods' };
const node: Identity = { kind: 'node', id: 'node' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** A pod shaped like a real one (~2.5 KB of JSON), on one of 10 nodes. */
function makePod(i: number, rv: number): KubeObject {
  return {
    metadata: {
      name: `app-${i}-7d9f8c6b5-x${(i * 7919) % 100000}`,
      namespace: `ns-${i % 20}`,
      uid: `0000-${i}-uid-aaaaaaaa-bbbb-cccc-dddd`,
      resourceVersion: String(rv),
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: `app-${i % 50}`, 'pod-template-hash': '7d9f8c6b5', tier: i % 2 ? 'web' : 'db' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `app-${i}-7d9f8c6b5`,
          uid: `rs-${i}`,
          controller: true,
        },
      ],
    },
    spec: {
      nodeName: `node-${i % 10}`,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      serviceAccountName: 'default',
      containers: [
        {
          name: 'main',
          image: 'registry.example.com/team/app:1.2.3',
          args: ['--port=8080', '--log-level=info'],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          env: Array.from({ length: 6 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}-${i}` })),
          volumeMounts: [
            {
              name: 'kube-api-access',
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              readOnly: true,
            },
          ],
        },
      ],
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
    },
    status: {
      phase: 'Running',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      hostIP: `192.168.0.${i % 10}`,
      startTime: '2026-01-01T00:00:01Z',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: '2026-01-01T00:00:02Z',
      })),
      containerStatuses: [
        {
          name: 'main',
          ready: true,
          restartCount: 0,
          image: 'registry.example.com/team/app:1.2.3',
          state: { running: { startedAt: '2026-01-01T00:00:02Z' } },
        },
      ],
    },
  };
}

const items = Array.from({ length: 10_000 }, (_, i) => makePod(i, 1000 + i));
const list = { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '20000' }, items };
const allView: ViewKey = { identity: 'node', gvr: pods, namespace: '', labelSelector: '', fieldSelector: '' };
const dir = mkdtempSync(join(tmpdir(), 'islet-bench-cache-'));

try {
  // (a) applyList of 10,000 pods, fresh store each round
  const applyMs: number[] = [];
  const stringifyMs: number[] = [];
  for (let r = 0; r < Math.max(3, Math.min(ROUNDS, 5)); r++) {
    const store = new CacheStore({ path: join(dir, `apply-${r}.db`) });
    stringifyMs.push(time(() => items.map((o) => JSON.stringify(o))));
    applyMs.push(time(() => store.applyList(allView, list)));
    store.close();
  }

  // (b) offline LIST of kubelet's 1,000 pods out of 10,000
  const store = new CacheStore({ path: join(dir, 'read.db') });
  store.applyList(allView, list);
  const info = parseRequestInfo('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-3');
  const mine = items.filter((p) => (p.spec as { nodeName: string }).nodeName === 'node-3');
  const listMs: number[] = [];
  const baseMs: number[] = [];
  let answered = 0;
  for (let r = 0; r < ROUNDS + 2; r++) {
    const b = time(() => JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: mine }));
    let n = 0;
    const l = time(() => {
      const res = offlineList(store, info, node);
      n = res.body.length;
    });
    if (r >= 2) {
      baseMs.push(b);
      listMs.push(l);
    }
    answered = n;
  }
  const labelInfo = parseRequestInfo('GET', '/api/v1/namespaces/ns-3/pods?labelSelector=tier%3Dweb');
  const labelMs = Array.from({ length: ROUNDS }, () => time(() => offlineList(store, labelInfo, node)));

  // (c) GET and watch-event upsert
  const getInfo = parseRequestInfo('GET', `/api/v1/namespaces/ns-3/pods/${items[3]!.metadata.name}`);
  const coldStore = new CacheStore({ path: join(dir, 'read.db'), lruMax: 1 });
  const getWarm: number[] = [];
  const getCold: number[] = [];
  for (let r = 0; r < 200; r++) {
    getWarm.push(time(() => offlineGet(store, getInfo, node)));
    const other = items[(r * 37) % items.length]!;
    const coldInfo = parseRequestInfo(
      'GET',
      `/api/v1/namespaces/${other.metadata.namespace}/pods/${other.metadata.name}`,
    );
    getCold.push(time(() => offlineGet(coldStore, coldInfo, node)));
  }
  coldStore.close();
  const upsertMs: number[] = [];
  for (let r = 0; r < 200; r++) {
    const p = makePod(r, 30000 + r);
    upsertMs.push(time(() => store.applyWatchEvent(pods, { type: 'MODIFIED', object: p })));
  }
  const batchMs = time(() =>
    store.batch(() => {
      for (let r = 0; r < 1000; r++)
        store.applyWatchEvent(pods, { type: 'MODIFIED', object: makePod(r, 40000 + r) });
    }),
  );
  const stats = store.stats()[0]!;
  store.close();

  const f = (x: number) => x.toFixed(2);
  console.log(
    `cache bench (median of rounds; ${stats.objects} pods, ${(stats.bytes / 1e6).toFixed(1)} MB of JSON)`,
  );
  console.log(
    `applyList 10,000 pods:         ${f(median(applyMs))} ms   baseline JSON.stringify of the items ${f(median(stringifyMs))} ms   ratio ${(median(applyMs) / median(stringifyMs)).toFixed(1)}x`,
  );
  console.log(
    `offline LIST 1,000 of 10,000:  ${f(median(listMs))} ms   baseline JSON.stringify of 1,000 in-memory pods ${f(median(baseMs))} ms   ratio ${(median(listMs) / median(baseMs)).toFixed(2)}x   (${(answered / 1e6).toFixed(2)} MB)`,
  );
  console.log(`offline LIST by label in ns:   ${f(median(labelMs))} ms`);
  console.log(
    `offline GET (LRU warm/cold):   ${(median(getWarm) * 1000).toFixed(0)} µs / ${(median(getCold) * 1000).toFixed(0)} µs`,
  );
  console.log(
    `watch event upsert, own commit: ${f(median(upsertMs))} ms   in a 1,000-event batch: ${f(batchMs / 1000)} ms each`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
