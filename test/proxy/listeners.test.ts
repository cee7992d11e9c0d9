/**
 * The listeners' trust rules, through the built binary: the HTTPS listener serves token clients
 * only (no credentials → 401 Status, never the node's certificate upstream), and the HTTPS and
 * admin listeners, like the plain one, bind to loopback unless --allow-non-loopback says otherwise.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isletBinary } from '../islet-binary.js';
import { httpsGet, tempDir } from './harness.js';
import { createPki, httpsListenerArgs, type Pki } from './pki.js';
import { proxyOnSimulator } from './suite.js';

const execFileP = promisify(execFile);

describe('the HTTPS listener is for token clients', () => {
  let serving: Pki;
  const rig = proxyOnSimulator({
    prefix: 'islet-proxy-https-',
    simulator: { tokens: { 'tok-bob': 'bob' } },
    node: 'node-a',
    seed: (sim, dir) => {
      sim.create('secrets', {
        metadata: { name: 'node-secret', namespace: 'default' },
        data: { k: Buffer.from('node-only').toString('base64') },
      });
      serving = createPki(dir);
    },
    args: () => httpsListenerArgs(serving),
  });

  const request = (path: string, headers: Record<string, string>) =>
    httpsGet(`${rig.proxy.httpsUrl}${path}`, serving.caCert, headers);

  it('answers a request without credentials with 401 Status and sends nothing upstream', async () => {
    const before = rig.sim.requestCount({ resource: 'secrets' });
    for (const path of [
      '/api/v1/namespaces/default/secrets/node-secret',
      '/api/v1/namespaces/default/secrets',
      '/api/v1/namespaces/default/secrets?watch=1',
    ]) {
      const r = await request(path, {});
      expect(r.status, path).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 401, reason: 'Unauthorized' });
      expect(r.text).not.toContain('node-only');
    }
    expect(rig.sim.requestCount({ resource: 'secrets' })).toBe(before);
  });

  it('an upgrade request without credentials is refused with 401 too', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${rig.proxy.httpsUrl}/api/v1/namespaces/default/pods/p/exec?command=sh`, {
        method: 'POST',
        ca: readFileSync(serving.caCert),
        headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded without credentials')));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
  });

  it('a token client is still served with its own identity', async () => {
    const r = await request('/api/v1/namespaces/default/secrets/node-secret', {
      authorization: 'Bearer tok-bob',
    });
    expect(r.status).toBe(200);
    expect(rig.sim.requests.at(-1)?.identity).toMatchObject({ user: 'bob', via: 'token' });
  });
});

describe('listeners bind to loopback unless --allow-non-loopback', () => {
  let tmp: { dir: string; cleanup: () => void };
  let serving: Pki;

  beforeAll(() => {
    tmp = tempDir('islet-proxy-bind-');
    serving = createPki(tmp.dir);
  });
  afterAll(() => tmp?.cleanup());

  async function run(args: string[]): Promise<{ code: number; stderr: string }> {
    try {
      await execFileP(isletBinary, ['proxy', '--server', 'https://127.0.0.1:9', ...args], {
        timeout: 20_000,
      });
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stderr: e.stderr ?? '' };
    }
  }

  it.each([
    [
      '--https-listen',
      ['--https-listen', '0.0.0.0:0', '--tls-cert', 'CERT', '--tls-key', 'KEY'],
      '--https-listen 0.0.0.0: the HTTPS listener takes token clients from every network that reaches this address; bind it to loopback or pass --allow-non-loopback',
    ],
    [
      '--admin',
      ['--admin', '0.0.0.0:0'],
      '--admin 0.0.0.0: the admin listener shows anyone the node, its upstreams and its cache (/metrics); bind it to loopback or pass --allow-non-loopback',
    ],
    [
      '--listen',
      ['--listen', '0.0.0.0:0'],
      '--listen 0.0.0.0: the plain HTTP listener serves anyone as the node; bind it to loopback or pass --allow-non-loopback',
    ],
  ])(
    '%s on a non-loopback address is a usage error (exit 2) naming the flag',
    async (_flag, args, message) => {
      const withFiles = args.map((a) =>
        a === 'CERT' ? serving.serverCert : a === 'KEY' ? serving.serverKey : a,
      );
      const r = await run([
        ...withFiles,
        '--cache',
        `${tmp.dir}/cache.db`,
        '--link-state',
        `${tmp.dir}/link.json`,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`islet proxy: ${message}\n(see islet proxy --help)\n`);
    },
  );
});
