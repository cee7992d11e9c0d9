import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sendStatus, statusObject } from './status.js';

describe('status', () => {
  it('builds the API server Status shape', () => {
    expect(statusObject(404, '', 'pods "x" not found', { name: 'x', kind: 'pods' })).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "x" not found',
      reason: 'NotFound',
      details: { name: 'x', kind: 'pods' },
      code: 404,
    });
    expect(statusObject(200, 'Ok', 'fine').status).toBe('Success');
    expect(statusObject(503, 'ServiceUnavailable', 'offline').details).toBeUndefined();
  });

  it('sends it over HTTP with the code, JSON type and Retry-After', async () => {
    const server = createServer((_req, res) =>
      sendStatus(res, 503, 'ServiceUnavailable', 'node is offline', { retryAfterSeconds: 5 }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/pods`);
      expect(r.status).toBe(503);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(r.headers.get('retry-after')).toBe('5');
      const body = (await r.json()) as { kind: string; code: number; message: string; reason: string };
      expect(body).toMatchObject({
        kind: 'Status',
        code: 503,
        reason: 'ServiceUnavailable',
        message: 'node is offline',
      });
    } finally {
      server.close();
    }
  });
});
