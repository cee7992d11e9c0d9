/**
 * Fake host roots for installer and doctor tests: a temp directory laid out like a node's file
 * system from the shared real-world fixtures, and exact snapshots of such a tree (content, mode,
 * owner of every entry) to prove "no change" and "byte-identical restore".
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { isletBinary, repoRoot } from '../islet-binary.js';

/** Real-world shapes of node files (test/fixtures/README.md). */
export const fixture = (...parts: string[]) => join(repoRoot, 'test', 'fixtures', ...parts);

export interface FakeHost {
  root: string;
  at(hostPath: string): string;
  read(hostPath: string): string;
  cleanup(): void;
}

export function makeHost(opts: { cni?: string[]; kubelet?: boolean } = {}): FakeHost {
  const root = mkdtempSync(join(tmpdir(), 'islet-host-'));
  const at = (p: string) => join(root, p);
  mkdirSync(at('/etc/cni/net.d'), { recursive: true });
  mkdirSync(at('/etc/kubernetes'), { recursive: true });
  for (const name of opts.cni ?? []) copyFileSync(fixture('cni', name), at(`/etc/cni/net.d/${name}`));
  if (opts.kubelet ?? true)
    copyFileSync(fixture('kubelet', 'kubelet.conf'), at('/etc/kubernetes/kubelet.conf'));
  return {
    root,
    at,
    read: (p) => readFileSync(at(p), 'utf8'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export type TreeSnapshot = Map<string, string>;

/** Every entry under dir: type, mode, owner and (for files) content, as comparable strings. */
export function snapshotTree(dir: string): TreeSnapshot {
  const out: TreeSnapshot = new Map();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = join(rel, name);
      const st = lstatSync(join(dir, p));
      const meta = `${st.isDirectory() ? 'd' : 'f'} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(p, meta);
        walk(p);
      } else {
        out.set(
          p,
          `${meta} ${createHash('sha256')
            .update(readFileSync(join(dir, p)))
            .digest('hex')}`,
        );
      }
    }
  };
  walk('');
  return out;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let privateCopy: string | undefined;
let privateDir: string | undefined;
// Registered while the test file imports this module, so it runs after that file's tests.
afterAll(() => {
  if (privateDir) rmSync(privateDir, { recursive: true, force: true });
  privateDir = undefined;
  privateCopy = undefined;
});

/**
 * This test file's own copy of dist/islet, taken once: a parallel test run may rebuild dist/islet
 * meanwhile, and "install twice → identical" must compare one build with itself.
 */
export function testBinary(): string {
  if (!privateCopy) {
    privateDir = mkdtempSync(join(tmpdir(), 'islet-bin-'));
    privateCopy = join(privateDir, 'islet');
    copyFileSync(isletBinary, privateCopy);
    chmodSync(privateCopy, 0o755);
  }
  return privateCopy;
}

/** Runs the built binary with `stdin` (closed at once); never throws on a non-zero exit. */
export function runIslet(
  args: string[],
  env: Record<string, string> = {},
  bin = testBinary(),
  stdin = '',
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, maxBuffer: 16 * 1024 * 1024 },
      (_err, stdout, stderr) => {
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
    child.stdin!.end(stdin);
  });
}
