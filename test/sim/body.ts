/** Request bodies: size limit, JSON/YAML/protobuf objects, DeleteOptions. */
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { isPlainObject, type SimObject } from './object.js';
import { decodeProtobufObject, PROTOBUF } from './protobuf.js';
import { errors, StatusError } from './status.js';
import type { DeleteOptions } from './store.js';

export async function readDeleteOptions(
  req: IncomingMessage,
  q: URLSearchParams,
  limit: number,
): Promise<DeleteOptions> {
  const raw = (await readBody(req, limit)).toString('utf8').trim();
  const body = raw ? parseJson(raw) : {};
  if (!isPlainObject(body)) throw errors.badRequest('DeleteOptions must be a JSON object');
  const d: DeleteOptions = {};
  const grace = q.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
  if (grace !== undefined && grace !== null && grace !== '') {
    const n = Number(grace);
    if (!Number.isInteger(n) || n < 0)
      throw errors.badRequest(`gracePeriodSeconds: Invalid value: "${grace}"`);
    d.gracePeriodSeconds = n;
  }
  const policy = q.get('propagationPolicy') ?? body.propagationPolicy;
  if (typeof policy === 'string') {
    if (!['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw errors.badRequest(`propagationPolicy: Unsupported value: "${policy}"`);
    }
    d.propagationPolicy = policy;
  }
  if (isPlainObject(body.preconditions))
    d.preconditions = body.preconditions as DeleteOptions['preconditions'];
  const dry = Array.isArray(body.dryRun) ? body.dryRun : q.getAll('dryRun');
  d.dryRun = dry.includes('All');
  return d;
}

/** The request body, refused with 413 beyond `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(errors.tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(errors.tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** A create/update body: JSON, YAML or (for the kinds typed clients write) protobuf. */
export async function readObject(req: IncomingMessage, limit: number): Promise<SimObject> {
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const body = await readBody(req, limit);
  if (type === PROTOBUF) return decodeProtobufObject(body) as SimObject;
  const text = body.toString('utf8');
  let obj: unknown;
  if (type === 'application/json' || type === '*/*' || type === '') obj = parseJson(text);
  else if (type === 'application/yaml') {
    try {
      obj = YAML.parse(text);
    } catch (e) {
      throw errors.badRequest(`yaml parse error: ${(e as Error).message}`);
    }
  } else {
    throw new StatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "${type}")`,
    );
  }
  if (!isPlainObject(obj)) throw errors.badRequest('the request body must be a JSON object');
  return obj as SimObject;
}
