/**
 * kubectl (client-go 1.32), the real client, straight against the simulator: discovery, get with
 * selectors, apply, patch, delete and watch.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from './index.js';

const run = promisify(execFile);
let sim: Simulator;
let kubeconfig: string;
const children: ChildProcess[] = [];

async function kubectl(args: string[], config = kubeconfig): Promise<string> {
  const { stdout } = await run(
    'kubectl',
    ['--kubeconfig', config, '--cache-dir', join(sim.dir, 'kube-cache'), ...args],
    {
      timeout: 60_000,
    },
  );
  return stdout;
}

function podManifest(name: string, labels: Record<string, string>, nodeName: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox:1.36' }] },
  };
}

beforeAll(async () => {
  sim = await startSimulator();
  kubeconfig = await sim.writeKubeconfig({ cert: await sim.mintClientCert('node-a') });
  sim.create('pods', podManifest('a1', { app: 'a' }, 'node-a') as never);
  sim.create('pods', podManifest('a2', { app: 'a' }, 'node-b') as never);
  sim.create('pods', podManifest('b1', { app: 'b' }, 'node-a') as never);
  sim.create('pods', {
    ...(podManifest('k1', { app: 'a' }, 'node-a') as object),
    metadata: { name: 'k1', namespace: 'kube-system', labels: { app: 'a' } },
  } as never);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await sim?.close();
});

describe('kubectl against the simulator', () => {
  it('lists exactly what the simulator holds, with label and field selectors', async () => {
    const all = JSON.parse(await kubectl(['get', 'pods', '-A', '-o', 'json']));
    const names = all.items.map(
      (p: { metadata: { namespace: string; name: string } }) => `${p.metadata.namespace}/${p.metadata.name}`,
    );
    expect(names.sort()).toEqual(
      sim
        .list('pods')
        .items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)
        .sort(),
    );
    expect(await kubectl(['get', 'pods', '-l', 'app=a', '-o', 'name'])).toBe('pod/a1\npod/a2\n');
    // All namespaces come back in the server's (namespace, name) order.
    expect(
      await kubectl([
        'get',
        'pods',
        '-A',
        '-l',
        'app in (a)',
        '--field-selector',
        'spec.nodeName=node-a',
        '-o',
        'name',
      ]),
    ).toBe('pod/a1\npod/k1\n');
    expect(await kubectl(['get', 'pods', '--field-selector', 'spec.nodeName!=node-a', '-o', 'name'])).toBe(
      'pod/a2\n',
    );
    const table = await kubectl(['get', 'nodes,namespaces']);
    expect(table).toMatch(/namespace\/kube-node-lease\s+Active\s+\d+s/);
    // kubectl 1.32 discovered everything from the aggregated documents at /api and /apis.
    expect(sim.requestCount({ path: '/api' })).toBeGreaterThan(0);
    expect(
      sim.requests.filter((r) => r.resource === 'pods').every((r) => r.userAgent.startsWith('kubectl/')),
    ).toBe(true);
    expect(sim.requestCount({ path: '/api/v1' })).toBe(0);
    expect(sim.requestCount({ path: '/apis/coordination.k8s.io/v1' })).toBe(0);
  });

  it('applies, re-applies, patches and deletes', async () => {
    const file = join(sim.dir, 'cm.json');
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'default' },
      data: { a: '1', b: '1' },
    };
    await writeFile(file, JSON.stringify(cm));
    expect(await kubectl(['apply', '-f', file])).toContain('configmap/applied created');
    await writeFile(file, JSON.stringify({ ...cm, data: { a: '2' } }));
    expect(await kubectl(['apply', '-f', file])).toContain('configmap/applied configured');
    // Three-way merge: b was applied before and is gone from the file, so apply removed it.
    expect(sim.get('configmaps', 'applied')!.data).toEqual({ a: '2' });

    await kubectl(['patch', 'pod', 'a1', '--type=merge', '-p', '{"metadata":{"labels":{"patched":"yes"}}}']);
    expect(sim.get('pods', 'a1')!.metadata.labels).toEqual({ app: 'a', patched: 'yes' });
    await kubectl([
      'patch',
      'pod',
      'a1',
      '--subresource=status',
      '-p',
      '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}',
    ]);
    await kubectl([
      'patch',
      'pod',
      'a1',
      '--subresource=status',
      '-p',
      '{"status":{"conditions":[{"type":"PodScheduled","status":"True"}]}}',
    ]);
    const status = sim.get('pods', 'a1')!.status as { phase: string; conditions: Array<{ type: string }> };
    expect(status.phase).toBe('Running');
    expect(status.conditions.map((c) => c.type)).toEqual(['Ready', 'PodScheduled']);
    await kubectl([
      'patch',
      'configmap',
      'applied',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/data/c","value":"3"}]',
    ]);
    expect(sim.get('configmaps', 'applied')!.data).toEqual({ a: '2', c: '3' });

    expect(await kubectl(['delete', 'configmap', 'applied'])).toContain('deleted');
    expect(sim.get('configmaps', 'applied')).toBeUndefined();
    await expect(kubectl(['get', 'configmap', 'applied'])).rejects.toThrow(/NotFound/);
  });

  it("accepts the protobuf bodies of kubectl's imperative create commands", async () => {
    // kubectl's typed clients send application/vnd.kubernetes.protobuf, as to a real API server.
    await kubectl(['create', 'configmap', 'imperative', '--from-literal=k=v']);
    expect(sim.get('configmaps', 'imperative')!.data).toEqual({ k: 'v' });
    await kubectl(['create', 'secret', 'generic', 'imperative', '--from-literal=pw=hunter2']);
    const secret = sim.get('secrets', 'imperative')!;
    expect(secret.type).toBe('Opaque');
    expect(Buffer.from((secret.data as { pw: string }).pw, 'base64').toString()).toBe('hunter2');
    await kubectl(['create', 'namespace', 'imperative']);
    expect(sim.get('namespaces', 'imperative')!.status).toEqual({ phase: 'Active' });
    expect(sim.requests.filter((r) => r.verb === 'create').map((r) => r.resource)).toEqual(
      expect.arrayContaining(['configmaps', 'secrets', 'namespaces']),
    );
  });

  it('watches with kubectl get -w and sees changes as they happen', async () => {
    const child = spawn(
      'kubectl',
      [
        '--kubeconfig',
        kubeconfig,
        '--cache-dir',
        join(sim.dir, 'kube-cache'),
        'get',
        'pods',
        '-w',
        '--output-watch-events',
        '-l',
        'app=w',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await expect
      .poll(() => sim.watchCount({ resource: 'pods', labelSelector: 'app=w' }).open, { timeout: 30_000 })
      .toBe(1);
    sim.create('pods', podManifest('w1', { app: 'w' }, 'node-a') as never);
    await expect.poll(() => out, { timeout: 30_000 }).toMatch(/ADDED\s+w1\s/);
    sim.patch('pods', 'w1', { metadata: { annotations: { touched: 'yes' } } });
    await expect.poll(() => out, { timeout: 30_000 }).toMatch(/MODIFIED\s+w1\s/);
    sim.delete('pods', 'w1');
    await expect.poll(() => out, { timeout: 30_000 }).toMatch(/DELETED\s+w1\s/);
    child.kill('SIGTERM');
  });

  it('works with legacy discovery and with a bearer token', async () => {
    const legacy = await startSimulator({ aggregatedDiscovery: false, tokens: { secret: 'bob' } });
    try {
      const config = await legacy.writeKubeconfig({ token: 'secret' });
      const out = await run('kubectl', [
        '--kubeconfig',
        config,
        '--cache-dir',
        join(legacy.dir, 'c'),
        'get',
        'leases',
        '-A',
        '-o',
        'json',
      ]);
      expect(JSON.parse(out.stdout).items).toEqual([]);
      expect(legacy.requestCount({ path: '/apis/coordination.k8s.io/v1' })).toBeGreaterThan(0);
      expect(legacy.requests.filter((r) => r.resource === 'leases').map((r) => r.identity?.user)).toEqual([
        'bob',
      ]);
      const bad = await legacy.writeKubeconfig({ token: 'wrong' });
      await expect(run('kubectl', ['--kubeconfig', bad, 'get', 'pods'])).rejects.toThrow(
        /Unauthorized|must be logged in/,
      );
    } finally {
      await legacy.close();
    }
  });
});
