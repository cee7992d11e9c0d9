/**
 * Offline, every identity is answered only from what it read upstream itself. A token client reads
 * a Secret the node may not read (403 upstream); once the link is cut, an anonymous loopback
 * client (the node identity) gets a Status for it on GET, LIST and WATCH, never its data, while the
 * token still reads it and the node still reads what the node read. With Secrets on disk and with
 * --exclude-secrets (Secrets in memory only) alike.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventually, httpJson, twoProbeLinkArgs, waitLink } from './harness.js';
import { proxyOnSimulator } from './suite.js';

type Named = { metadata: { name: string; resourceVersion?: string }; data?: Record<string, string> };
type ListBody = { kind: string; items: Named[]; metadata: { resourceVersion: string } };

describe.each([
  ['Secrets persisted', [] as string[]],
  ['--exclude-secrets', ['--exclude-secrets']],
])('offline reads stay within what each identity read upstream (%s)', (_mode, extra) => {
  const TOKEN = `tok-${randomBytes(6).toString('hex')}`;
  // The secret's value, unique per run so its absence from an answer means something.
  const SECRET = Buffer.from(`alice-password-${randomBytes(8).toString('hex')}`).toString('base64');
  const ns = '/api/v1/namespaces/default';
  let tokenListRv = '';

  const rig = proxyOnSimulator({
    prefix: 'islet-proxy-identity-',
    simulator: { tokens: { [TOKEN]: 'alice' } },
    node: 'node-a',
    seed: (sim) => {
      // RBAC as the node authorizer would have it: the node may not read this Secret.
      sim.deny({ resource: 'secrets', user: 'system:node:node-a' });
      sim.create('secrets', {
        metadata: { name: 'alice-secret', namespace: 'default' },
        type: 'Opaque',
        data: { password: SECRET },
      });
      sim.create('configmaps', { metadata: { name: 'node-cm', namespace: 'default' }, data: { n: '1' } });
      sim.create('configmaps', { metadata: { name: 'shared-cm', namespace: 'default' }, data: { s: '1' } });
      sim.create('pods', {
        metadata: { name: 'kubelet-pod', namespace: 'default' },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      });
      sim.create('pods', {
        metadata: { name: 'alice-pod', namespace: 'default' },
        spec: {
          nodeName: 'node-b',
          containers: [{ name: 'c', image: 'busybox', env: [{ name: 'PW', value: SECRET }] }],
        },
      });
    },
    args: [...twoProbeLinkArgs, ...extra],
  });

  const asToken = { headers: { authorization: `Bearer ${TOKEN}` } };
  const anon = (path: string) => httpJson(`${rig.proxy.url}${path}`);
  const token = (path: string) => httpJson(`${rig.proxy.url}${path}`, asToken);

  it('online: the token reads the Secret, the node is refused it upstream; each reads its own objects', async () => {
    const got = await token(`${ns}/secrets/alice-secret`);
    expect(got.status).toBe(200);
    expect((got.body as Named).data?.password).toBe(SECRET);
    const listed = await token(`${ns}/secrets`);
    expect(listed.status).toBe(200);
    tokenListRv = (listed.body as ListBody).metadata.resourceVersion;
    expect((listed.body as ListBody).items.map((i) => i.metadata.name)).toEqual(['alice-secret']);

    expect((await anon(`${ns}/secrets/alice-secret`)).status).toBe(403);
    expect((await anon(`${ns}/secrets`)).status).toBe(403);

    expect((await anon(`${ns}/configmaps/node-cm`)).status).toBe(200);
    // The same unchanged object read by the token first, then by the node: both get a grant.
    expect((await token(`${ns}/configmaps/shared-cm`)).status).toBe(200);
    expect((await anon(`${ns}/configmaps/shared-cm`)).status).toBe(200);
    expect((await anon('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a')).status).toBe(200);
    expect((await token(`${ns}/pods/alice-pod`)).status).toBe(200);

    await rig.sim.partition('refuse');
    await waitLink(rig.dir, 'offline');
  });

  it('offline: the token still reads the Secret by GET, LIST and WATCH', async () => {
    // Waiting on these also waits for the cache writer to have applied everything read above.
    const got = await eventually(
      'token GET from the cache',
      () => token(`${ns}/secrets/alice-secret`),
      (r) => r.status === 200,
    );
    expect((got.body as Named).data?.password).toBe(SECRET);
    const listed = await eventually(
      'token LIST from the cache',
      () => token(`${ns}/secrets`),
      (r) => r.status === 200,
    );
    expect((listed.body as ListBody).items.map((i) => i.metadata.name)).toEqual(['alice-secret']);
    const watched = await token(`${ns}/secrets?watch=1&timeoutSeconds=1`);
    expect(watched.status).toBe(200);
    expect(watched.text).toContain(SECRET);
  });

  it('offline: the node still reads what the node itself read, and nothing only the token read', async () => {
    for (const name of ['node-cm', 'shared-cm']) {
      const r = await eventually(
        `node GET ${name} from the cache`,
        () => anon(`${ns}/configmaps/${name}`),
        (x) => x.status === 200,
      );
      expect((r.body as Named).metadata.name).toBe(name);
    }
    const pods = await anon('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    expect(pods.status).toBe(200);
    expect((pods.body as ListBody).items.map((i) => i.metadata.name)).toEqual(['kubelet-pod']);
    // The reverse holds too: the token never read node-cm.
    const notTokens = await token(`${ns}/configmaps/node-cm`);
    expect(notTokens.status).toBe(503);
    expect(notTokens.body).toMatchObject({ kind: 'Status', code: 503 });
  });

  it('offline: an anonymous GET of the Secret the token read gets a Status, not the data', async () => {
    for (const accept of ['application/json', 'application/vnd.kubernetes.protobuf,application/json']) {
      const r = await httpJson(`${rig.proxy.url}${ns}/secrets/alice-secret`, { headers: { accept } });
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 503 });
      expect(r.text).not.toContain(SECRET);
      expect(r.text).not.toContain('"kind":"Secret"');
    }
  });

  it("offline: the token's complete LIST of Secrets never answers the node's LIST", async () => {
    for (const path of [
      `${ns}/secrets`,
      '/api/v1/secrets',
      `${ns}/secrets?fieldSelector=metadata.name%3Dalice-secret`,
    ]) {
      const r = await anon(path);
      expect(r.status, path).toBe(503);
      expect(r.body).toMatchObject({ kind: 'Status', code: 503 });
      expect(r.text).not.toContain(SECRET);
    }
  });

  it('offline: an anonymous WATCH of the Secrets gets a Status, not a stream', async () => {
    expect(tokenListRv).not.toBe('');
    for (const path of [
      `${ns}/secrets?watch=1&timeoutSeconds=2`,
      `${ns}/secrets?watch=1&resourceVersion=${tokenListRv}&timeoutSeconds=2`,
      `${ns}/secrets/alice-secret?watch=1&resourceVersion=${tokenListRv}&timeoutSeconds=2`,
    ]) {
      const r = await anon(path);
      expect(r.status, path).toBe(503);
      expect(r.body).toMatchObject({ kind: 'Status', code: 503 });
      expect(r.text).not.toContain(SECRET);
    }
  });

  it('offline: an anonymous status write to a pod only the token read answers a Status, not the pod', async () => {
    await eventually(
      'token GET of the pod from the cache',
      () => token(`${ns}/pods/alice-pod`),
      (r) => r.status === 200,
    );
    const r = await httpJson(`${rig.proxy.url}${ns}/pods/alice-pod/status`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { phase: 'Running' } }),
    });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ kind: 'Status', code: 503 });
    expect(r.text).not.toContain(SECRET);
  });
});
