/**
 * `npm run demo` as an end-to-end smoke test (the binary is built by the global setup): the whole
 * offline story must pass every check, keep every pod's IP across restarts and a simulated reboot,
 * and reconnect without a single relist.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../islet-binary.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.warn('[demo] skipped: needs root (network namespaces and a bridge); CI runs as root');
}

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!isRoot)('npm run demo', () => {
  it('tells the whole offline story: exit 0, same IPs after restarts and a reboot, zero relists', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).not.toContain('✗');
    for (let step = 1; step <= 7; step++) expect(stdout).toContain(`[${step}/7]`);

    // Three pods, recreated twice (DEL + ADD, then a reboot without DEL): six old → new lines.
    const moves = [
      ...stdout.matchAll(/^ {2}✓ (\S+): (\d+\.\d+\.\d+\.\d+) → (\d+\.\d+\.\d+\.\d+) \(same IP\)/gm),
    ];
    expect(moves.map((m) => m[1]).sort()).toEqual(['db-0', 'db-0', 'web-0', 'web-0', 'web-1', 'web-1']);
    for (const [, , before, after] of moves) expect(after).toBe(before);
    const first = [...stdout.matchAll(/^ {2}✓ (\S+): (\d+\.\d+\.\d+\.\d+) \(netns/gm)];
    expect(first).toHaveLength(3);
    for (const [, pod, ip] of first) {
      expect(moves.filter((m) => m[1] === pod).map((m) => m[3])).toEqual([ip, ip]);
    }
    expect(new Set(first.map((m) => m[2])).size).toBe(3);

    expect(stdout).toMatch(/^ {2}✓ LISTs the cloud received after reconnect: 0$/m);
    expect(stdout).toMatch(/^ {2}✓ informer LISTs in total: 1 /m);
    expect(stdout).toMatch(
      /^ {2}✓ kubectl get pods \(fresh kubectl, empty discovery cache\): 4 pods served from disk$/m,
    );
    expect(stdout).toMatch(/^all \d+ checks passed/m);
  }, 180_000);
});
