import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import type { UpgradeTarget } from '../types.js';
import { relayUpgrade } from './upgrade.js';

/**
 * exec/attach/port-forward: kubectl's SPDY upgrade is a POST with `Upgrade: SPDY/3.1`. The relay
 * must carry it upstream with the identity's credentials and then pipe bytes both ways.
 */
const servers: http.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  // Upgraded sockets leave the HTTP server's bookkeeping: close them ourselves.
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: net.Socket) => sockets.add(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function targetFor(port: number, authorization?: string): UpgradeTarget {
  return {
    url: `http://127.0.0.1:${port}/`,
    target: { protocol: 'http:', host: '127.0.0.1', hostname: '127.0.0.1', port, path: '' },
    secure: true,
    headers: { host: `127.0.0.1:${port}`, ...(authorization ? { authorization } : {}) },
  };
}

/** Sends a raw upgrade request and returns the socket plus everything read until `until` appears. */
async function rawUpgrade(
  port: number,
  request: string,
  until: string,
): Promise<{ socket: net.Socket; text: string }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes(until)) resolve();
    });
    socket.on('error', reject);
    socket.write(request);
  });
  return { socket, text };
}

describe('relayUpgrade', () => {
  it('relays a SPDY-style POST upgrade and pipes bytes both ways, with the identity credentials', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const upstream = http.createServer((_req, res) => res.writeHead(400).end());
    upstream.on('upgrade', (req, socket) => {
      seen.push(req.headers);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(`echo:${c.toString()}`));
    });
    const upPort = await listen(upstream);
    const front = http.createServer();
    front.on('upgrade', (req, socket, head) =>
      relayUpgrade(req, socket, head, targetFor(upPort, 'Bearer sa-token'), createLogger({ level: 'error' })),
    );
    const frontPort = await listen(front);

    const { socket, text } = await rawUpgrade(
      frontPort,
      'POST /api/v1/namespaces/default/pods/p/exec?command=sh HTTP/1.1\r\nHost: x\r\n' +
        'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n',
      '\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(seen[0]?.authorization).toBe('Bearer sa-token');
    expect(seen[0]?.['x-stream-protocol-version']).toBe('v4.channel.k8s.io');
    expect(seen[0]?.upgrade).toBe('SPDY/3.1');
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (c: Buffer) => resolve(c.toString()));
      socket.write('ping');
    });
    expect(echoed).toBe('echo:ping');
    socket.destroy();
  });

  it('hands an upstream refusal back as it is', async () => {
    const upstream = http.createServer();
    upstream.on('upgrade', (_req, socket) => {
      const body = '{"kind":"Status","code":403}';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    const upPort = await listen(upstream);
    const front = http.createServer();
    front.on('upgrade', (req, socket, head) =>
      relayUpgrade(req, socket, head, targetFor(upPort), createLogger({ level: 'error' })),
    );
    const frontPort = await listen(front);
    const { socket, text } = await rawUpgrade(
      frontPort,
      'GET /api/v1/namespaces/default/pods/p/attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      '"code":403}',
    );
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    socket.destroy();
  });
});
