/**
 * A minimal raw HTTP(S) client for tests: one request → {status, headers, body, json}, and a watch
 * reader that yields decoded events. Works against the simulator or anything in front of it.
 */
import http from 'node:http';
import https from 'node:https';

export interface ClientAuth {
  /** CA bundle (PEM) to trust; omitted for plain HTTP. */
  ca?: string;
  cert?: { certPem: string; keyPem: string };
  token?: string;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON); loosely typed for test assertions. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
  json: any;
}

function options(url: URL, method: string, auth: ClientAuth, headers: Record<string, string>) {
  const h: Record<string, string> = { Accept: 'application/json', ...headers };
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  return {
    method,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port,
    path: url.pathname + url.search,
    headers: h,
    ca: auth.ca,
    cert: auth.cert?.certPem,
    key: auth.cert?.keyPem,
    agent: false as const,
  };
}

function send(
  base: string,
  path: string,
  method: string,
  auth: ClientAuth,
  headers: Record<string, string>,
): http.ClientRequest {
  const url = new URL(path, base);
  const opts = options(url, method, auth, headers);
  return url.protocol === 'https:' ? https.request(opts) : http.request(opts);
}

export function rawRequest(
  base: string,
  auth: ClientAuth,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let payload: Buffer | undefined;
    if (body !== undefined) {
      payload = Buffer.isBuffer(body)
        ? body
        : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      headers = { 'Content-Type': 'application/json', ...headers, 'Content-Length': String(payload.length) };
    }
    const req = send(base, path, method, auth, headers);
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(buf.toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
      });
    });
    req.end(payload);
  });
}

export interface WatchEventLine {
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary Kubernetes JSON.
  object: any;
}

/** An open watch: events arrive in order; `next()` waits for the next one, `ended` resolves at stream end. */
export class RawWatch {
  status = 0;
  private readonly queue: WatchEventLine[] = [];
  private waiters: Array<() => void> = [];
  private buffer = '';
  private done = false;
  readonly ended: Promise<'end' | 'error'>;
  private req!: http.ClientRequest;

  constructor(base: string, auth: ClientAuth, path: string) {
    this.ended = new Promise((resolveEnded) => {
      const finish = (how: 'end' | 'error') => {
        if (this.done) return;
        this.done = true;
        resolveEnded(how);
        this.wake();
      };
      this.req = send(base, path, 'GET', auth, {});
      this.req.on('error', () => finish('error'));
      this.req.on('response', (res) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.buffer += chunk;
          let nl = this.buffer.indexOf('\n');
          while (nl !== -1) {
            const line = this.buffer.slice(0, nl).trim();
            this.buffer = this.buffer.slice(nl + 1);
            if (line) this.queue.push(JSON.parse(line) as WatchEventLine);
            nl = this.buffer.indexOf('\n');
          }
          this.wake();
        });
        res.on('end', () => finish('end'));
        res.on('error', () => finish('error'));
        res.on('aborted', () => finish('error'));
        res.on('close', () => finish(res.complete ? 'end' : 'error'));
      });
      this.req.end();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next event, or undefined when the stream ended first or `timeoutMs` passed. */
  async next(timeoutMs = 10_000): Promise<WatchEventLine | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ev = this.queue.shift();
      if (ev) return ev;
      if (this.done) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next event that is not a BOOKMARK. */
  async nextChange(timeoutMs = 10_000): Promise<WatchEventLine | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ev = await this.next(Math.max(0, deadline - Date.now()));
      if (ev?.type !== 'BOOKMARK') return ev;
    }
  }

  close(): void {
    this.req.destroy();
  }
}

export function rawWatch(base: string, auth: ClientAuth, path: string): RawWatch {
  return new RawWatch(base, auth, path);
}
