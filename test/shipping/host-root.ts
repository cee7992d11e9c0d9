/**
 * Fake host roots for installer and doctor tests: a temp directory laid out like a node's file
 * system from the shared real-world fixtures, and exact snapshots of such a tree (content, mode,
 * owner of every entry) to prove "no change" and "byte-identical restore".
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isletBinary, repoRoot } from '../islet-binary.js';

export const sharedDir = process.env.ISLET_SHARED_DIR ?? join(repoRoot, '..', 'shared');
export const fixture = (...parts: string[]) => join(sharedDir, 'fixtures', ...parts);

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

/** Runs the built binary with `stdin` (closed at once); never throws on a non-zero exit. */
export function runIslet(
  args: string[],
  env: Record<string, string> = {},
  bin = isletBinary,
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
