import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { statusObject } from '../status.js';
import type { UpgradeTarget } from '../types.js';

/**
 * Relays an upgraded connection (exec/attach/port-forward over SPDY or WebSocket) byte for byte.
 * Written here rather than with http-proxy because kubectl's SPDY upgrades are POSTs with
 * `Upgrade: SPDY/3.1`, which http-proxy's WebSocket path refuses.
 */
const SKIP = new Set(['host', 'authorization', 'proxy-authorization', 'proxy-connection', 'keep-alive']);

function rawHead(statusLine: string, headers: IncomingMessage['rawHeaders']): string {
  let out = `${statusLine}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}

export function refuseUpgrade(socket: Duplex, code: number, message: string): void {
  const body = JSON.stringify(statusObject(code, '', message));
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function relayUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: UpgradeTarget,
  logger: Logger,
): void {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !SKIP.has(name)) headers[name] = value;
  }
  Object.assign(headers, target.headers);
  const t = target.target;
  const options: https.RequestOptions = {
    protocol: t.protocol,
    hostname: t.hostname,
    port: t.port,
    method: req.method,
    path: t.path + (req.url ?? '/'),
    headers,
    agent: false,
    rejectUnauthorized: target.secure,
    ...(t.ca ? { ca: t.ca } : {}),
    ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
  };
  const upstreamReq = (t.protocol === 'https:' ? https : http).request(options);
  socket.on('error', () => upstreamReq.destroy());
  upstreamReq.on('upgrade', (upRes, upSocket, upHead) => {
    socket.write(rawHead(`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}`, upRes.rawHeaders));
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  // The API server refused the upgrade (403, 400...): hand its answer back as it is.
  upstreamReq.on('response', (upRes) => {
    socket.write(rawHead(`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}`, upRes.rawHeaders));
    upRes.pipe(socket);
  });
  upstreamReq.on('error', (err) => {
    logger.warn('upgrade relay failed', { upstream: target.url, path: req.url, error: err.message });
    if (socket.writable) refuseUpgrade(socket, 503, `upstream API server unreachable: ${err.message}`);
    else socket.destroy();
  });
  upstreamReq.end();
}
