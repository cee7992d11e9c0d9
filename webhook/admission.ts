/**
 * The mutating admission endpoint: AdmissionReview v1 in, AdmissionReview v1 out with a JSONPatch.
 * Only pod CREATEs that already name their node are planned (DaemonSet-less static placement,
 * controllers that set spec.nodeName); everything else is allowed unchanged and left to the
 * reconciler. The webhook never denies: it can only make a pod tolerate longer, and an error here
 * must not cost anyone a pod. Malformed requests get Status answers (400/405/413/415), never a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../proxy/log.js';
import type { Counter } from '../proxy/metrics.js';
import { sendStatus } from '../proxy/status.js';
import type { Autonomy } from './autonomy.js';
import { type PodLike, planPatch, planTolerations } from './tolerations.js';

/** The API server caps a request body at 3 MiB; its AdmissionReview (object + oldObject) fits in 8. */
export const MAX_REVIEW_BYTES = 8 * 1024 * 1024;

export interface AdmissionDeps {
  autonomyOf: (nodeName: string) => Autonomy | undefined;
  defaultSeconds: number;
  /** operation, result ('patched' | 'unchanged' | 'skipped' | 'invalid') */
  reviews: Counter;
  log: Logger;
}

// A bounded label: the operation comes from the request body.
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

class BadRequest extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new BadRequest(413, `request body of ${declared} bytes is over the ${limit}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BadRequest(413, `request body is over the ${limit}-byte limit`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface ReviewRequest {
  uid: string;
  kind?: { group?: string; kind?: string };
  subResource?: string;
  operation?: string;
  namespace?: string;
  name?: string;
  object?: unknown;
}

function parseReview(body: Buffer): ReviewRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BadRequest(400, `body is not JSON: ${(err as Error).message}`);
  }
  const review = doc as { apiVersion?: unknown; kind?: unknown; request?: { uid?: unknown } } | null;
  if (!review || typeof review !== 'object' || Array.isArray(review))
    throw new BadRequest(400, 'body is not an AdmissionReview object');
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview')
    throw new BadRequest(
      400,
      `expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got ${JSON.stringify(review.apiVersion)}, ${JSON.stringify(review.kind)}`,
    );
  const request = review.request;
  if (!request || typeof request !== 'object' || typeof request.uid !== 'string' || request.uid === '')
    throw new BadRequest(400, 'AdmissionReview has no request.uid');
  return request as ReviewRequest;
}

function isPod(o: unknown): o is PodLike {
  return !!o && typeof o === 'object' && !Array.isArray(o);
}

/** The patch for one review, or undefined to allow unchanged; `result` names why for the metric. */
function review(r: ReviewRequest, deps: AdmissionDeps): { patch?: unknown[]; result: string; node?: string } {
  if (r.kind?.group !== '' || r.kind?.kind !== 'Pod' || r.subResource || r.operation !== 'CREATE')
    return { result: 'skipped' };
  if (!isPod(r.object)) return { result: 'invalid' };
  const pod = r.object;
  const node = pod.spec?.nodeName;
  if (!node) return { result: 'skipped' }; // the scheduler binds it later: the reconciler's case
  const autonomy = deps.autonomyOf(node);
  if (!autonomy) return { result: 'not_synced', node };
  if (!Array.isArray(pod.spec?.tolerations ?? [])) return { result: 'invalid', node };
  const plan = planTolerations(pod, autonomy, deps.defaultSeconds);
  if (!plan) return { result: 'unchanged', node };
  return { patch: planPatch(pod, plan), result: 'patched', node };
}

export async function handleAdmission(
  req: IncomingMessage,
  res: ServerResponse,
  deps: AdmissionDeps,
): Promise<void> {
  try {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      throw new BadRequest(405, `${req.method} is not allowed: POST an AdmissionReview`);
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json')
      throw new BadRequest(
        415,
        `content type ${JSON.stringify(type || '(none)')} is not supported: send application/json`,
      );
    const r = parseReview(await readBody(req, MAX_REVIEW_BYTES));
    const out = review(r, deps);
    const op = OPERATIONS.has(String(r.operation)) ? String(r.operation) : 'other';
    deps.reviews.inc({ operation: op, result: out.result });
    const response: Record<string, unknown> = { uid: r.uid, allowed: true };
    if (out.patch) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(out.patch)).toString('base64');
      deps.log.info('pod tolerations set at admission', {
        pod: `${r.namespace}/${r.name ?? ''}`,
        node: out.node,
      });
    }
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } catch (err) {
    const code = err instanceof BadRequest ? err.code : 500;
    deps.reviews.inc({ operation: '', result: code === 500 ? 'error' : 'bad_request' });
    deps.log.warn('admission request refused', { code, error: err, remote: req.socket.remoteAddress });
    if (code === 413) res.setHeader('Connection', 'close');
    sendStatus(res, code, '', (err as Error).message);
  }
}
