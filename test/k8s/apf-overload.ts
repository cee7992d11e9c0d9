/**
 * A real, deterministic 429 from kube-apiserver for one user: API Priority and Fairness with a
 * one-seat priority level (Reject when full) for that user, and its one seat held by a request of
 * the same user that waits in a mutating admission webhook which does not answer until released.
 * While held, every other request of the user gets 429 Too Many Requests with Retry-After: 1,
 * exactly as under real overload; health probes stay exempt (the built-in "probes" FlowSchema).
 *
 * Needs the server started with --max-requests-inflight=1 --max-mutating-requests-inflight=1, so
 * that a priority level with nominalConcurrencyShares 1 gets exactly one seat. The held request
 * is an Event create in its own namespace, sent to the API server directly (not over the relay).
 */

import type { ServerResponse } from 'node:http';
import https from 'node:https';
import { type RawResponse, rawRequest } from '../sim/client.js';
import type { CertFiles } from '../sim/pki.js';
import type { ControlPlane } from './control-plane.js';

export const APF_OVERLOAD_FLAGS = ['--max-requests-inflight=1', '--max-mutating-requests-inflight=1'];

const HOLD_NS = 'islet-apf-hold';
const NAME = 'islet-one-seat';

export interface Overload {
  /** Requests of the user APF rejected so far. */
  rejected(): Promise<number>;
  /** Let the held request go and remove the configuration. */
  release(): Promise<void>;
}

async function rejectedCount(cp: ControlPlane): Promise<number> {
  const text = (await cp.admin.request('GET', '/metrics')).body.toString();
  return text
    .split('\n')
    .filter(
      (l) =>
        l.startsWith('apiserver_flowcontrol_rejected_requests_total{') && l.includes(`flow_schema="${NAME}"`),
    )
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

export async function overloadUser(cp: ControlPlane, user: string, cert: CertFiles): Promise<Overload> {
  const held: { res: ServerResponse; uid: string }[] = [];
  let arrived: () => void = () => {};
  const arrival = new Promise<'held'>((resolve) => {
    arrived = () => resolve('held');
  });
  const hook = https.createServer({ cert: cp.pki.server.certPem, key: cp.pki.server.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const uid = (JSON.parse(body) as { request?: { uid?: string } }).request?.uid ?? '';
      held.push({ res, uid });
      arrived();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', () => resolve()));
  const port = (hook.address() as { port: number }).port;
  const answerAll = () => {
    for (const h of held.splice(0)) {
      h.res.writeHead(200, { 'content-type': 'application/json' });
      h.res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: { uid: h.uid, allowed: true },
        }),
      );
    }
  };
  const api = (kind: string) => `/apis/${kind}`;
  const cleanup = async () => {
    answerAll();
    await cp.admin.request(
      'DELETE',
      api('admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/islet-apf-hold'),
    );
    await cp.admin.request('DELETE', api(`flowcontrol.apiserver.k8s.io/v1/flowschemas/${NAME}`));
    await cp.admin.request(
      'DELETE',
      api(`flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/${NAME}`),
    );
    await new Promise<void>((resolve) => hook.close(() => resolve()));
  };
  try {
    await cp.ensureNamespace(HOLD_NS);
    await cp.admin.ok('POST', api('flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations'), {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'PriorityLevelConfiguration',
      metadata: { name: NAME },
      spec: {
        type: 'Limited',
        limited: {
          nominalConcurrencyShares: 1,
          lendablePercent: 0,
          borrowingLimitPercent: 0,
          limitResponse: { type: 'Reject' },
        },
      },
    });
    const fs = await cp.admin.ok('POST', api('flowcontrol.apiserver.k8s.io/v1/flowschemas'), {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name: NAME },
      spec: {
        priorityLevelConfiguration: { name: NAME },
        // Before the built-in system-nodes (500); after probes (2), which stay exempt.
        matchingPrecedence: 100,
        distinguisherMethod: { type: 'ByUser' },
        rules: [
          {
            subjects: [{ kind: 'User', user: { name: user } }],
            resourceRules: [
              { verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true },
            ],
          },
        ],
      },
    });
    await cp.admin.ok('POST', api('admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'), {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'islet-apf-hold' },
      webhooks: [
        {
          name: 'hold.islet.test',
          clientConfig: {
            url: `https://127.0.0.1:${port}/hold`,
            caBundle: Buffer.from(cp.pki.caPem).toString('base64'),
          },
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['events'],
              scope: 'Namespaced',
            },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': HOLD_NS } },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 30,
        },
      ],
    });
    const auth = { ca: cp.pki.caPem, cert };
    // The configuration reaches the APF and admission controllers asynchronously: hold the seat
    // once the user's requests are classified by our FlowSchema and the webhook is called.
    const end = Date.now() + 30_000;
    while (held.length === 0) {
      if (Date.now() > end) throw new Error('APF overload: the held request never reached the webhook');
      // Any resource request shows its FlowSchema (APF runs before authorization: a 403 shows it too).
      const probe = await rawRequest(
        cp.directUrl,
        auth,
        'GET',
        `/api/v1/namespaces/${HOLD_NS}/events?limit=1`,
      );
      if (probe.headers['x-kubernetes-pf-flowschema-uid'] !== fs.metadata.uid) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const hold: Promise<RawResponse | undefined> = rawRequest(
        cp.directUrl,
        auth,
        'POST',
        `/api/v1/namespaces/${HOLD_NS}/events`,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: 'hold.', namespace: HOLD_NS },
          involvedObject: { kind: 'Namespace', name: HOLD_NS },
          reason: 'Hold',
          message: 'holds the one seat',
        },
      ).catch(() => undefined);
      // Either the webhook has it (the seat is held) or it came back (rejected or not hooked yet).
      const settled = await Promise.race([hold.then(() => 'back' as const), arrival]);
      if (settled === 'back' && held.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { rejected: () => rejectedCount(cp), release: cleanup };
}
