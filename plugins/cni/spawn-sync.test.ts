/**
 * Both ways spawn-sync.ts runs a program (the spawn_sync binding, and node:child_process when the
 * binding is unavailable) must give the same outcomes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const originalBinding = (process as unknown as { binding: unknown }).binding;

async function load(via: 'binding' | 'child_process') {
  vi.resetModules();
  (process as unknown as { binding: unknown }).binding =
    via === 'binding'
      ? originalBinding
      : () => {
          throw new Error('No such module: spawn_sync');
        };
  return (await import('./spawn-sync.js')).spawnSyncDetached;
}

afterEach(() => {
  (process as unknown as { binding: unknown }).binding = originalBinding;
});

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GREETING: 'hi' };

describe.each(['binding', 'child_process'] as const)('spawnSyncDetached via %s', (via) => {
  it('passes stdin and env, collects stdout, stderr and the exit status', async () => {
    const spawn = await load(via);
    const r = spawn({
      file: '/bin/sh',
      env,
      input: 'cat; echo "$GREETING" >&2; exit 3',
      timeoutMs: 5000,
      maxBuffer: 1 << 20,
    });
    expect(r.status).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.error).toBeUndefined();
    expect(r.stderr.toString()).toBe('hi\n');
  });

  it('runs the program in its own process group', async () => {
    const spawn = await load(via);
    const r = spawn({
      file: '/bin/sh',
      env,
      input: 'cut -d" " -f1,5 /proc/$$/stat',
      timeoutMs: 5000,
      maxBuffer: 1 << 20,
    });
    const [pid, pgid] = r.stdout.toString().trim().split(' ');
    expect(pid).toBe(String(r.pid));
    expect(pgid).toBe(pid);
  });

  // The grandchild keeps stdout open for 300 s: returning at all proves the runner did not wait.
  it('kills the program at the timeout and does not wait for a grandchild holding stdout', async () => {
    const spawn = await load(via);
    const r = spawn({
      file: '/bin/sh',
      env,
      input: 'sleep 300 & exec sleep 300',
      timeoutMs: 500,
      maxBuffer: 1 << 20,
    });
    expect(r.error).toBe('ETIMEDOUT');
    expect(r.signal).toBe('SIGKILL');
    process.kill(-r.pid, 'SIGKILL');
  });

  it('reports a program that cannot be started', async () => {
    const spawn = await load(via);
    const r = spawn({ file: '/nonexistent/plugin', env, input: '', timeoutMs: 5000, maxBuffer: 1 << 20 });
    expect(r.error).toBe('ENOENT');
    expect(r.status).toBeNull();
  });

  it('reads the config from stdin byte for byte', async () => {
    const spawn = await load(via);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'ünïcode', ipam: { type: 'x' } });
    const r = spawn({ file: '/bin/cat', env, input: conf, timeoutMs: 5000, maxBuffer: 1 << 20 });
    expect(r.stdout.toString('utf8')).toBe(conf);
  });
});
