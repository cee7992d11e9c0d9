import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLinkState } from '../../lib/link-state.js';
import { createPki, issueClientCert, type Pki } from '../../test/proxy/pki.js';
import { UpstreamUnavailableError } from '../types.js';
import { ClientCertSource } from './client-cert.js';
import { ApiServerPool } from './pool.js';

const node = { kind: 'node', id: 'node' } as const;

/** A tiny HTTP upstream: /readyz answers `ready` (200/500); every other path answers its own name. */
class FakeApiServer {
  ready = 200;
  hits = 0;
  server: http.Server;
  port = 0;
  constructor(readonly name: string) {
    this.server = this.make();
  }
  private make(): http.Server {
    return http.createServer((req, res) => {
      if (req.url === '/readyz') {
        res.writeHead(this.ready).end('ok');
        return;
      }
      this.hits++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(this.name);
    });
  }
  async start(): Promise<void> {
    this.server = this.make();
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
}

async function body(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'islet-pool-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('ApiServerPool over plain HTTP', () => {
  it('fails over to the second server and returns to the preferred one when it is back', async () => {
    const a = new FakeApiServer('a');
    const b = new FakeApiServer('b');
    await a.start();
    await b.start();
    const pool = new ApiServerPool({
      servers: [a.url, b.url],
      lb: 'priority',
      probeIntervalMs: 50,
      probeTimeoutMs: 500,
      offlineAfter: 2,
      onlineAfter: 2,
      requestTimeoutMs: 2000,
    });
    try {
      await pool.start();
      expect(pool.isOnline()).toBe(true);
      expect(await body(await pool.request({ method: 'GET', path: '/x', identity: node }))).toBe('a');
      await a.stop();
      // The very next request fails over inside the pool: the client sees no error.
      expect(await body(await pool.request({ method: 'GET', path: '/x', identity: node }))).toBe('b');
      expect(pool.isOnline()).toBe(true);
      await waitFor(() => pool.status()[0]!.healthy === false);
      await a.start();
      await waitFor(() => pool.status()[0]!.healthy);
      expect(await body(await pool.request({ method: 'GET', path: '/x', identity: node }))).toBe('a');
      expect(pool.transitions).toBe(0);
    } finally {
      await pool.close();
      await a.stop();
      await b.stop();
    }
  });

  it('changes the link state only after N failures and M successes and publishes it', async () => {
    const a = new FakeApiServer('a');
    await a.start();
    const linkFile = join(tempDir(), 'link.json');
    const changes: boolean[] = [];
    const pool = new ApiServerPool({
      servers: [a.url],
      lb: 'priority',
      probeIntervalMs: 30,
      probeTimeoutMs: 500,
      offlineAfter: 3,
      onlineAfter: 2,
      requestTimeoutMs: 2000,
      linkStatePath: linkFile,
    });
    pool.onLinkChange((online) => changes.push(online));
    try {
      await pool.start();
      expect(readLinkState(linkFile)).toBe('online');
      a.ready = 500;
      await waitFor(() => !pool.isOnline());
      expect(pool.status()[0]!.probeFailures).toBeGreaterThanOrEqual(3);
      expect(readLinkState(linkFile)).toBe('offline');
      await expect(pool.request({ method: 'POST', path: '/x', identity: node })).resolves.toBeDefined();
      a.ready = 200;
      await waitFor(() => pool.isOnline());
      expect(readLinkState(linkFile)).toBe('online');
      expect(changes).toEqual([true, false, true]);
      const first = JSON.parse(readFileSync(linkFile, 'utf8')).checkedAt;
      await waitFor(() => JSON.parse(readFileSync(linkFile, 'utf8')).checkedAt !== first);
    } finally {
      await pool.close();
      await a.stop();
    }
  });

  it('rejects with UpstreamUnavailableError when no server answers', async () => {
    const a = new FakeApiServer('a');
    await a.start();
    await a.stop();
    const pool = new ApiServerPool({
      servers: [a.url],
      lb: 'priority',
      probeIntervalMs: 1000,
      probeTimeoutMs: 200,
      offlineAfter: 1,
      onlineAfter: 1,
      requestTimeoutMs: 500,
    });
    try {
      await pool.start();
      expect(pool.isOnline()).toBe(false);
      await expect(pool.request({ method: 'GET', path: '/x', identity: node })).rejects.toBeInstanceOf(
        UpstreamUnavailableError,
      );
    } finally {
      await pool.close();
    }
  });

  it('spreads requests in round-robin mode', async () => {
    const a = new FakeApiServer('a');
    const b = new FakeApiServer('b');
    await a.start();
    await b.start();
    const pool = new ApiServerPool({
      servers: [a.url, b.url],
      lb: 'round-robin',
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
      offlineAfter: 1,
      onlineAfter: 1,
      requestTimeoutMs: 2000,
    });
    try {
      await pool.start();
      const seen: string[] = [];
      for (let i = 0; i < 4; i++)
        seen.push(await body(await pool.request({ method: 'GET', path: '/x', identity: node })));
      expect(seen.sort()).toEqual(['a', 'a', 'b', 'b']);
    } finally {
      await pool.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('ApiServerPool over TLS', () => {
  let pki: Pki;
  let server: https.Server;
  let url: string;
  const seen: { cn: string; auth: string | undefined }[] = [];

  beforeAll(async () => {
    pki = createPki(tempDir());
    server = https.createServer(
      {
        cert: readFileSync(pki.serverCert),
        key: readFileSync(pki.serverKey),
        ca: readFileSync(pki.caCert),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.push({ cn: String(peer?.subject?.CN ?? ''), auth: req.headers.authorization });
        res.writeHead(200).end('ok');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('uses the node certificate, reloads it when the file changes, and keeps tokens without a cert', async () => {
    const one = issueClientCert(pki, 'node-one', 'system:node:one');
    const two = issueClientCert(pki, 'node-two', 'system:node:two');
    const current = join(pki.dir, 'kubelet-client-current.pem');
    copyFileSync(one.combined, current);
    const reloads: number[] = [];
    const clientCert = new ClientCertSource({
      certFile: current,
      keyFile: current,
      checkIntervalMs: 0,
      onReload: (g) => reloads.push(g),
    });
    const pool = new ApiServerPool({
      servers: [url],
      ca: readFileSync(pki.caCert),
      clientCert,
      lb: 'priority',
      probeIntervalMs: 60_000,
      probeTimeoutMs: 1000,
      offlineAfter: 1,
      onlineAfter: 1,
      requestTimeoutMs: 2000,
    });
    try {
      await pool.start();
      expect(pool.isOnline()).toBe(true);
      seen.length = 0;
      await body(await pool.request({ method: 'GET', path: '/a', identity: node }));
      expect(seen.at(-1)).toEqual({ cn: 'system:node:one', auth: undefined });

      copyFileSync(two.combined, current);
      await body(await pool.request({ method: 'GET', path: '/b', identity: node }));
      expect(seen.at(-1)).toEqual({ cn: 'system:node:two', auth: undefined });
      expect(reloads).toEqual([2]);

      await body(
        await pool.request({
          method: 'GET',
          path: '/c',
          identity: { kind: 'token', id: 'x', authorization: 'Bearer abc' },
          headers: { authorization: 'Bearer ignored' },
        }),
      );
      expect(seen.at(-1)).toEqual({ cn: '', auth: 'Bearer abc' });
    } finally {
      await pool.close();
    }
  });

  it('keeps the last good pair when a rotation is caught half-way', () => {
    const one = issueClientCert(pki, 'node-three', 'system:node:three');
    const two = issueClientCert(pki, 'node-four', 'system:node:four');
    const dir = tempDir();
    const cert = join(dir, 'c.crt');
    const key = join(dir, 'c.key');
    copyFileSync(one.cert, cert);
    copyFileSync(one.key, key);
    const errors: string[] = [];
    const src = new ClientCertSource({
      certFile: cert,
      keyFile: key,
      checkIntervalMs: 0,
      onError: (e) => errors.push(e.message),
    });
    const before = src.current()!;
    copyFileSync(two.cert, cert); // new cert, old key: mismatched
    expect(src.current()!.generation).toBe(before.generation);
    expect(errors.length).toBe(1);
    copyFileSync(two.key, key);
    expect(src.current()!.generation).toBe(before.generation + 1);
  });
});
