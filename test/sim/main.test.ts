/** The standalone simulator (test/sim/main.ts) as the demo and benchmarks start it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../islet-binary.js';
import { rawRequest } from './index.js';

let child: ChildProcess | undefined;

afterAll(async () => {
  // SIGTERM lets the simulator remove its temp dir; SIGKILL only if it does not go.
  if (!child || child.exitCode !== null) return;
  const c = child;
  const gone = new Promise((resolve) => c.once('exit', resolve));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
});

function firstLine(c: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(out.slice(0, nl));
    });
    c.on('exit', (code) => reject(new Error(`simulator exited with ${code}: ${err}`)));
  });
}

describe('standalone simulator', () => {
  it('prints its URL and credentials as one JSON line, serves them, and cleans up on SIGTERM', async () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test/sim/main.ts'), '--node', 'edge-1', '--token', 'tkn=robot'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const info = JSON.parse(await firstLine(child));
    expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(info.caPath, 'utf8');
    const cert = {
      certPem: readFileSync(info.clientCerts['edge-1'].certPath, 'utf8'),
      keyPem: readFileSync(info.clientCerts['edge-1'].keyPath, 'utf8'),
    };
    const ns = await rawRequest(info.url, { ca, cert }, 'GET', '/api/v1/namespaces');
    expect(ns.status).toBe(200);
    expect(ns.json.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toContain(
      'kube-system',
    );
    expect((await rawRequest(info.url, { ca, token: 'tkn' }, 'GET', '/api/v1/nodes')).status).toBe(200);
    expect((await rawRequest(info.url, { ca }, 'GET', '/api/v1/nodes')).status).toBe(401);
    expect(existsSync(info.kubeconfigs['edge-1'])).toBe(true);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(info.dir)).toBe(false);
  });

  it('rejects unknown flags with a usage error', async () => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/sim/main.ts'), '--bogus'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => c.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('unknown flag --bogus');
  });
});
