/**
 * The webhook's own small API client: JSON requests and line-delimited watch streams over https,
 * with the in-cluster service account (token re-read as it rotates, the mounted CA) or a
 * kubeconfig. No client library: the binary must not carry @kubernetes/client-node.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { loadKubeconfig } from '../proxy/kubeconfig.js';
import { jsonOf, readBody } from '../proxy/upstream/answer-body.js';
import { readWatchEvents } from '../proxy/watch/upstream-stream.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiCredentials {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: () => string | undefined;
}

export function inClusterCredentials(): ApiCredentials {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig');
  const tokenFile = `${SA_DIR}/token`;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(`${SA_DIR}/ca.crt`),
    token: () => readFileSync(tokenFile, 'utf8').trim(),
  };
}

export function kubeconfigCredentials(file: string): ApiCredentials {
  const k = loadKubeconfig(file);
  const read = (p?: string) => (p ? readFileSync(p) : undefined);
  const token = k.token;
  const tokenFile = k.tokenFile;
  return {
    server: k.servers[0]!,
    ca: k.caData ?? read(k.caFile),
    cert: k.certData ?? read(k.certFile),
    key: k.keyData ?? read(k.keyFile),
    token: token ? () => token : tokenFile ? () => readFileSync(tokenFile, 'utf8').trim() : undefined,
  };
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class KubeClient {
  private readonly agent: https.Agent;

  constructor(private readonly creds: ApiCredentials) {
    this.agent = new https.Agent({ keepAlive: true, ca: creds.ca, cert: creds.cert, key: creds.key });
  }

  private open(method: string, path: string, headers: Record<string, string>, timeoutMs: number) {
    const url = new URL(path, this.creds.server);
    const token = this.creds.token?.();
    return https.request(url, {
      method,
      agent: this.agent,
      headers: {
        Accept: 'application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      timeout: timeoutMs,
    });
  }

  /** One JSON request; non-2xx answers throw ApiError with the server's Status message. */
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes JSON is read field by field by callers.
  request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = payload
      ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) }
      : {};
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, headers, 30_000);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.on('response', (res) => {
        readBody(res).then((raw) => {
          const json = jsonOf(raw);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(json);
          else {
            const msg =
              (json as { message?: string } | undefined)?.message ?? raw.toString('utf8').slice(0, 300);
            reject(new ApiError(status, `${method} ${path} → ${status}: ${msg}`));
          }
        }, reject);
      });
      req.end(payload);
    });
  }

  /**
   * A watch stream: `onEvent` per decoded line, resolving when the server ends the stream (its
   * timeoutSeconds) and rejecting on errors. `signal` ends it early.
   */
  watch(
    path: string,
    onEvent: (e: { type: string; object: unknown }) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      // No socket timeout: a quiet watch is normal; the server's timeoutSeconds bounds it.
      const req = this.open('GET', path, {}, 0);
      const abort = () => req.destroy();
      signal.addEventListener('abort', abort, { once: true });
      const done = (err?: Error) => {
        signal.removeEventListener('abort', abort);
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      req.on('error', (err) => done(err));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          done(new ApiError(res.statusCode ?? 0, `watch ${path} → ${res.statusCode}`));
          return;
        }
        readWatchEvents(res, (ev) => onEvent(ev)).then(
          () => done(),
          (err: Error) => done(err),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
