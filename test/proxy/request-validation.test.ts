/**
 * Requests the API server refuses are refused the same way by the proxy, online and offline,
 * with a Status: bad resourceVersion options (400), bodies nested too deep to handle (400, not a
 * 500 from a blown stack), and methods the API does not take (405).
 */

import { request } from 'node:http';
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { podOn } from '../objects.js';
import { type Answer, answerOf, fastLinkArgs, httpJson, waitReadyz } from './harness.js';
import { expectFailureStatus, proxyOnSimulator } from './suite.js';

/** One request with any method (fetch refuses TRACE and CONNECT). */
function send(url: string, method: string): Promise<Answer & { allow: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      void answerOf(res).then((a) => resolve({ ...a, allow: a.headers.allow }), reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw request line, for methods Node's HTTP client would not send: the whole answer as text. */
function raw(url: string, line: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(`${line}\r\nHost: x\r\n\r\n`));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      out += c;
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('islet proxy request validation', () => {
  const rig = proxyOnSimulator({
    prefix: 'islet-proxy-validation-',
    simulator: { tls: false },
    seed: (sim) => void sim.create('pods', podOn('v', 'node-a', 'web', 'default')),
    args: fastLinkArgs,
  });

  beforeAll(async () => {
    // Cached, so an offline LIST of pods would otherwise answer 200.
    expect((await httpJson(`${rig.proxy.url}/api/v1/namespaces/default/pods`)).status).toBe(200);
  });

  const expectStatus = (path: string, code: number, init?: RequestInit) =>
    expectFailureStatus(`${rig.proxy.url}${path}`, code, init);

  const deep = (levels: number) => {
    const inner = `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{},"x":${inner}}`;
  };

  const cases = (when: string) => {
    it(`${when}: a LIST or WATCH with a non-numeric resourceVersion gets 400`, async () => {
      expect(await expectStatus('/api/v1/namespaces/default/pods?resourceVersion=abc', 400)).toContain(
        'resourceVersion',
      );
      await expectStatus('/api/v1/namespaces/default/pods?watch=1&resourceVersion=abc', 400);
    });

    it(`${when}: a LIST with resourceVersionMatch but no resourceVersion gets 400`, async () => {
      expect(
        await expectStatus('/api/v1/namespaces/default/pods?resourceVersionMatch=NotOlderThan', 400),
      ).toContain('resourceVersionMatch');
      await expectStatus('/api/v1/namespaces/default/pods?resourceVersionMatch=Exact&resourceVersion=0', 400);
    });

    it(`${when}: a body nested 100,000 deep gets 400, not a 500`, async () => {
      const message = await expectStatus('/api/v1/namespaces/default/configmaps', 400, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: deep(100_000),
      });
      expect(message).toContain('nests deeper');
      expect(rig.sim.get('configmaps', 'deep')).toBeUndefined();
    });

    it(`${when}: OPTIONS and TRACE on a resource get 405 MethodNotAllowed`, async () => {
      for (const method of ['OPTIONS', 'TRACE']) {
        const r = await send(`${rig.proxy.url}/api/v1/namespaces/default/pods`, method);
        expect(r.status, method).toBe(405);
        expect(r.body).toMatchObject({ kind: 'Status', code: 405, reason: 'MethodNotAllowed' });
        expect(r.allow).toContain('GET');
      }
    });

    it(`${when}: a method HTTP parsing does not know gets a 405 Status, not a bare 400`, async () => {
      const answer = await raw(rig.proxy.url, 'FROB /api/v1/namespaces/default/pods HTTP/1.1');
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 405 Method Not Allowed');
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).toMatchObject({ kind: 'Status', code: 405, reason: 'MethodNotAllowed' });
    });
  };

  cases('online');

  it('online: a body nested less than the limit still reaches upstream', async () => {
    const r = await httpJson(`${rig.proxy.url}/api/v1/namespaces/default/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'shallow' },
        data: { k: 'v' },
      }),
    });
    expect(r.status).toBe(201);
  });

  it('goes offline', async () => {
    await rig.sim.partition('refuse');
    await waitReadyz(rig.proxy, 'offline');
    // The cached list is there: the 400s below are validation, not a missing cache.
    expect((await httpJson(`${rig.proxy.url}/api/v1/namespaces/default/pods`)).status).toBe(200);
  });

  cases('offline');

  it('is still up', async () => {
    expect(rig.proxy.proc.exitCode).toBeNull();
    expect((await httpJson(`${rig.proxy.adminUrl}/healthz`)).status).toBe(200);
  });
});
