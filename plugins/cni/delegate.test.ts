import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DelegateError, execDelegate, findInPath } from './delegate.js';
import { CniError } from './errors.js';

let dir: string;
let other: string;

function script(name: string, body: string, where = dir): void {
  const file = join(where, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-delegate-'));
  other = mkdtempSync(join(tmpdir(), 'islet-delegate-other-'));
  // Echoes back what a delegate receives, as a result the caller can inspect.
  script(
    'echo',
    'in=$(cat); printf \'{"cmd":"%s","id":"%s","ifname":"%s","keep":"%s","stdin":%s}\' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_IFNAME" "$KEEP_ME" "$in"',
  );
  script(
    'fails',
    'cat >/dev/null; echo \'{"code":11,"msg":"cloud unreachable","details":"dial tcp: i/o timeout"}\'; exit 1',
  );
  script('garbage', 'cat >/dev/null; echo "this is not json"');
  script('crash', 'cat >/dev/null; echo "panic: oops" >&2; exit 2');
  script('hang', `sleep 30 & echo $! > ${join(dir, 'sleep.pid')}; wait`);
  script('quiet', 'cat >/dev/null');
  script('shadowed', 'echo \'{"from":"second"}\'', other);
  writeFileSync(join(dir, 'notexec'), 'x');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

const call = (type: string, extra: Partial<Parameters<typeof execDelegate>[0]> = {}) =>
  execDelegate({
    type,
    command: 'ADD',
    conf: { cniVersion: '1.0.0', name: 'n', ipam: { type } },
    path: [dir, other],
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'c1',
      CNI_IFNAME: 'eth0',
      KEEP_ME: 'yes',
    },
    timeoutMs: 5_000,
    ...extra,
  });

describe('delegate exec', () => {
  it('passes the same environment with CNI_COMMAND replaced, overrides applied, and the config on stdin', async () => {
    const out = (await call('echo', {
      overrides: { CNI_CONTAINERID: 'other', CNI_IFNAME: 'net1' },
    })) as Record<string, unknown>;
    expect(out).toEqual({
      cmd: 'ADD',
      id: 'other',
      ifname: 'net1',
      keep: 'yes',
      stdin: { cniVersion: '1.0.0', name: 'n', ipam: { type: 'echo' } },
    });
  });

  it('searches CNI_PATH in order and skips non-executables', () => {
    expect(findInPath('shadowed', [dir, other])).toBe(join(other, 'shadowed'));
    expect(() => findInPath('notexec', [dir])).toThrow(/failed to find plugin "notexec"/);
  });

  it('reports a missing delegate as invalid config (7) naming CNI_PATH', async () => {
    const err = await call('missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toContain('CNI_PATH');
    expect((err as CniError).message).toContain(dir);
  });

  it('refuses plugin types that are paths', () => {
    expect(() => findInPath('../bin/sh', [dir])).toThrow(/invalid plugin type/);
  });

  it('passes a delegate CNI error through with its code', async () => {
    const err = (await call('fails').catch((e: unknown) => e)) as DelegateError;
    expect(err).toBeInstanceOf(DelegateError);
    expect(err.kind).toBe('cni');
    expect(err.code).toBe(11);
    expect(err.message).toBe('cloud unreachable');
    expect(err.details).toBe('dial tcp: i/o timeout');
  });

  it('classifies garbage output, a crash without JSON, and empty output', async () => {
    const garbage = (await call('garbage').catch((e: unknown) => e)) as DelegateError;
    expect([garbage.kind, garbage.code]).toEqual(['garbage', 100]);
    const crash = (await call('crash').catch((e: unknown) => e)) as DelegateError;
    expect(crash.kind).toBe('exit');
    expect(crash.message).toMatch(/status 2: panic: oops/);
    expect(await call('quiet')).toBeUndefined();
  });

  it('kills a hanging delegate (and what it started) at the timeout', async () => {
    const err = (await call('hang', { timeoutMs: 3000 }).catch((e: unknown) => e)) as DelegateError;
    expect(err.kind).toBe('timeout');
    expect(err.code).toBe(11);
    // The script's own child must be dead too (gone, or a zombie awaiting its reaper).
    // SIGKILL is delivered asynchronously: on a loaded machine the child may still show as running
    // for a moment, so look again until it is dead (a live child never gets there).
    const sleepPid = Number(readFileSync(join(dir, 'sleep.pid'), 'utf8'));
    const stateOf = (): string => {
      try {
        return readFileSync(`/proc/${sleepPid}/stat`, 'utf8').split(') ')[1]!.charAt(0);
      } catch {
        return 'gone';
      }
    };
    let state = stateOf();
    for (let i = 0; i < 50 && !['gone', 'Z', 'X'].includes(state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = stateOf();
    }
    expect(['gone', 'Z', 'X']).toContain(state);
  });
});
