/**
 * islet webhook against the real control plane (kube-apiserver + kube-controller-manager with the
 * node lifecycle and taint eviction controllers): a cut link looks like stopped Lease renewals, the
 * node goes NotReady, gets the unreachable NoExecute taint, and its pods are deleted once their
 * shortest matching toleration runs out, unless the webhook raised it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, controlPlaneMissing, startControlPlane } from '../k8s/control-plane.js';
import { eventually } from '../proxy/harness.js';
import { rawRequest } from '../sim/client.js';
import {
  evictingControlPlane,
  Heartbeats,
  type RunningWebhook,
  registerLoopbackWebhook,
  startWebhook,
} from './harness.js';

const missing = controlPlaneMissing();
if (missing) console.warn(`skipping webhook tests: ${missing}`);

const DEFAULT_SECONDS = 20;
const UNREACHABLE = 'node.kubernetes.io/unreachable';
const NOT_READY = 'node.kubernetes.io/not-ready';
const MANAGED = 'islet.dev/autonomy-tolerations';

interface Toleration {
  key?: string;
  operator?: string;
  effect?: string;
  tolerationSeconds?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
type Json = any;

const secondsFor = (pod: Json, key: string): (number | 'forever')[] =>
  ((pod.spec.tolerations ?? []) as Toleration[])
    .filter((t) => t.key === key && t.effect === 'NoExecute')
    .map((t) => t.tolerationSeconds ?? 'forever');

describe.skipIf(missing)('islet webhook keeps autonomous nodes\u2019 pods through an outage', () => {
  let cp: ControlPlane;
  let hb: Heartbeats;
  let webhookArgs: string[];
  let webhook: RunningWebhook | undefined;
  let caPem = '';
  const ns = `hook-${process.pid}`;

  const pod = (name: string, spec: Json = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'registry.invalid/none' }], ...spec },
  });
  const createPod = (name: string, spec: Json = {}) =>
    cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods`, pod(name, spec));
  const getPod = async (name: string): Promise<Json | undefined> => {
    const r = await cp.admin.request('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    return r.status === 404 ? undefined : r.json;
  };
  const args = () => [...webhookArgs, '--log-level', 'debug'];

  /** Starts the webhook and waits until the API server calls it (caBundle published and picked up). */
  async function up(): Promise<void> {
    webhook = await startWebhook(args());
    const mwc = await eventually(
      'caBundle published',
      () =>
        cp.admin.ok(
          'GET',
          '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/islet-webhook',
        ),
      (c: Json) => !!c.webhooks[0].clientConfig.caBundle,
    );
    caPem = Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString();
    let n = 0;
    await eventually(
      'the API server calling the webhook',
      async () => {
        const name = `probe-${n++}`;
        const p = await createPod(name, { nodeName: 'edge-1' });
        await cp.admin.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}?gracePeriodSeconds=0`);
        return p;
      },
      (p: Json) => p.metadata.annotations?.[MANAGED] === '600',
      30_000,
    );
  }

  beforeAll(async () => {
    cp = await startControlPlane(evictingControlPlane(DEFAULT_SECONDS, '10s'));
    await cp.ensureNamespace(ns);
    hb = new Heartbeats(cp);
    await hb.addNode('edge-1', { 'islet.dev/autonomy-duration': '10m' });
    await hb.addNode('edge-2', { 'islet.dev/autonomy-duration': '40s' });
    await hb.addNode('plain-1');
    await hb.addNode('cloud-1'); // stays up: a cluster with every node down is not evicted at all
    webhookArgs = await registerLoopbackWebhook(cp, DEFAULT_SECONDS);
    await up();
  });

  afterAll(async () => {
    hb?.stop();
    await webhook?.stop();
    await cp?.close();
  });

  it('answers malformed reviews, wrong content types and oversized bodies with Status errors and keeps serving', async () => {
    const auth = { ca: caPem };
    const send = (body: unknown, headers: Record<string, string> = {}) =>
      rawRequest(webhook!.url, auth, 'POST', '/mutate', body, headers);
    const get = await rawRequest(webhook!.url, auth, 'GET', '/mutate');
    expect([get.status, get.json.kind, get.json.reason]).toEqual([405, 'Status', 'MethodNotAllowed']);
    const text = await send('hello', { 'Content-Type': 'text/plain' });
    expect([text.status, text.json.reason]).toEqual([415, 'UnsupportedMediaType']);
    const broken = await send('{"apiVersion": ', { 'Content-Type': 'application/json' });
    expect([broken.status, broken.json.reason]).toEqual([400, 'BadRequest']);
    expect(broken.json.message).toContain('not JSON');
    const wrongKind = await send({ apiVersion: 'v1', kind: 'Pod' });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.json.message).toContain('AdmissionReview');
    const noUid = await send({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} });
    expect([noUid.status, noUid.json.message]).toEqual([400, 'AdmissionReview has no request.uid']);
    const huge = await send(Buffer.alloc(9 * 1024 * 1024, 0x20)).catch((err: Error) => err);
    // The server answers 413 as soon as the declared length is over the limit and closes.
    if (huge instanceof Error) expect(huge.message).toMatch(/EPIPE|ECONNRESET/);
    else expect([huge.status, huge.json.reason]).toEqual([413, 'RequestEntityTooLarge']);
    const oddPod = await send({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u-1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        object: { spec: { nodeName: 'edge-1', tolerations: 'not a list' } },
      },
    });
    expect(oddPod.status).toBe(200);
    expect(oddPod.json.response).toEqual({ uid: 'u-1', allowed: true });
    expect((await rawRequest(webhook!.url, auth, 'GET', '/healthz')).status).toBe(200);
    const metrics = (await rawRequest(webhook!.url, auth, 'GET', '/metrics')).body.toString();
    expect(metrics).toMatch(
      /islet_webhook_admission_reviews_total\{operation="",result="bad_request"\} [1-9]/,
    );
    expect(webhook!.proc.exitCode).toBeNull();
  });

  it('lets pods be created while it is down and fixes the bound ones when it is back', async () => {
    await webhook!.stop();
    const t0 = Date.now();
    const late = await createPod('late', { nodeName: 'edge-1' });
    const createMs = Date.now() - t0;
    expect(late.metadata.annotations?.[MANAGED]).toBeUndefined();
    expect(secondsFor(late, UNREACHABLE)).toEqual([DEFAULT_SECONDS]);
    console.log(`[webhook] pod CREATE with the webhook down took ${createMs} ms (failurePolicy Ignore)`);
    await up();
    const fixed = await eventually(
      'the reconciler raising the persisted defaults',
      () => getPod('late'),
      (p: Json) => p?.metadata.annotations?.[MANAGED] === '600',
    );
    expect(secondsFor(fixed, UNREACHABLE)).toEqual([600]);
    expect(secondsFor(fixed, NOT_READY)).toEqual([600]);
  });

  it('keeps the pods of an autonomous node past the default toleration while an ordinary node\u2019s are evicted', async () => {
    const control = await createPod('control', { nodeName: 'plain-1' });
    const protectedPod = await createPod('protected', { nodeName: 'edge-1' });
    const forever = await createPod('user-forever', {
      nodeName: 'edge-1',
      tolerations: [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }],
    });
    const longer = await createPod('user-longer', {
      nodeName: 'edge-1',
      tolerations: [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1200 }],
    });
    const short = await createPod('short', { nodeName: 'edge-2' });
    // Scheduler-style: created unbound (no webhook patch possible), bound through pods/binding.
    await createPod('bound-later');
    await cp.admin.ok('POST', `/api/v1/namespaces/${ns}/pods/bound-later/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'bound-later' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'edge-1' },
    });

    // At CREATE: the webhook replaced DefaultTolerationSeconds' 20 s; other nodes untouched.
    expect(secondsFor(control, UNREACHABLE)).toEqual([DEFAULT_SECONDS]);
    expect(control.metadata.annotations?.[MANAGED]).toBeUndefined();
    expect([secondsFor(protectedPod, UNREACHABLE), secondsFor(protectedPod, NOT_READY)]).toEqual([
      [600],
      [600],
    ]);
    expect([secondsFor(forever, UNREACHABLE), secondsFor(forever, NOT_READY)]).toEqual([['forever'], [600]]);
    expect([secondsFor(longer, UNREACHABLE), secondsFor(longer, NOT_READY)]).toEqual([[1200], [600]]);
    expect(secondsFor(short, UNREACHABLE)).toEqual([40]);
    const bound = await eventually(
      'the reconciler fixing the bound pod',
      () => getPod('bound-later'),
      (p: Json) => p?.metadata.annotations?.[MANAGED] === '600',
    );
    expect(secondsFor(bound, UNREACHABLE)).toEqual([600]);

    // Cut the link of edge-1, edge-2 and plain-1; follow nodes and pods until the 40 s pod is gone.
    const cutAt = Date.now();
    for (const n of ['edge-1', 'edge-2', 'plain-1']) hb.cut(n);
    const at = (t: number) => `${((t - cutAt) / 1000).toFixed(1)} s`;
    const timeline = new Map<string, number>();
    const watched = ['control', 'protected', 'user-forever', 'user-longer', 'short', 'bound-later', 'late'];
    await eventually(
      'the short-autonomy pod evicted',
      async () => {
        for (const n of ['edge-1', 'edge-2', 'plain-1']) {
          const node = await cp.admin.ok('GET', `/api/v1/nodes/${n}`);
          const ready = (node.status.conditions ?? []).find((c: Json) => c.type === 'Ready');
          if (ready?.status !== 'True' && !timeline.has(`${n} NotReady`))
            timeline.set(`${n} NotReady`, Date.now());
          const tainted = (node.spec.taints ?? []).some(
            (t: Json) => t.key === UNREACHABLE && t.effect === 'NoExecute',
          );
          if (tainted && !timeline.has(`${n} tainted`)) timeline.set(`${n} tainted`, Date.now());
        }
        for (const name of watched) {
          const p = await getPod(name);
          if ((!p || p.metadata.deletionTimestamp) && !timeline.has(`${name} evicted`))
            timeline.set(`${name} evicted`, Date.now());
        }
        return timeline.has('short evicted');
      },
      Boolean,
      240_000,
    );
    console.log(
      `[webhook] outage timeline (from the cut; default toleration ${DEFAULT_SECONDS} s, edge-1 10m, edge-2 40s):\n${[
        ...timeline,
      ]
        .sort((a, b) => a[1] - b[1])
        .map(([what, t]) => `  ${at(t).padStart(7)}  ${what}`)
        .join('\n')}`,
    );
    expect(timeline.has('control evicted')).toBe(true);
    expect(timeline.get('control evicted')!).toBeLessThan(timeline.get('short evicted')!);
    // The 40 s pod is gone, 20 s past the default: every pod on the 10-minute node is still there.
    for (const name of ['protected', 'user-forever', 'user-longer', 'bound-later', 'late']) {
      const p = await getPod(name);
      expect(p?.metadata.deletionTimestamp, name).toBeUndefined();
      expect(timeline.has(`${name} evicted`), name).toBe(false);
    }
    const taint = timeline.get('edge-1 tainted');
    expect(taint, 'edge-1 was tainted').toBeDefined();
  });
});
