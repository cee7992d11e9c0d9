/** The process side of the skel, through the built binary: stdin handling a runtime may throw at it. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isletBinary } from '../islet-binary.js';

function runIslet(env: Record<string, string>, feed: (stdin: NodeJS.WritableStream) => void) {
  return new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(isletBinary, [], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.on('error', reject);
    // A plugin may answer and exit before it read what is still being written (EPIPE): the
    // answer is what these tests check, not the write.
    child.stdin.on('error', () => {});
    child.on('close', (code) => resolve({ code, stdout }));
    feed(child.stdin);
  });
}

describe('CNI stdio', () => {
  it('VERSION answers even when the caller never closes stdin', async () => {
    const r = await runIslet({ CNI_COMMAND: 'VERSION' }, () => {
      // stdin left open on purpose
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '1.1.0' });
  });

  it('VERSION reads the request version from a pipe that stays open after it', async () => {
    const r = await runIslet({ CNI_COMMAND: 'VERSION' }, (stdin) => stdin.write('{"cniVersion":"0.3.1"}'));
    expect(JSON.parse(r.stdout).cniVersion).toBe('0.3.1');
  });

  it('other verbs read stdin to EOF and print exactly one JSON line', async () => {
    const r = await runIslet({ CNI_COMMAND: 'ADD' }, (stdin) => stdin.end('{}'));
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout).code).toBe(4);
  });
});
