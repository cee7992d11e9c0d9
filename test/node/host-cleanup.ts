/**
 * What a power cut takes away and what a test must take back: processes a runtime left behind
 * (found by pid through /proc, never by name), mounts under the node's root, netns and cgroups.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `thing` once `setUp(thing)` finished; when it fails, what it made so far is cleaned up first. */
export async function setUpOrCleanUp<T extends { cleanup(): Promise<void> }>(
  thing: T,
  setUp: (t: T) => Promise<void>,
): Promise<T> {
  try {
    await setUp(thing);
  } catch (err) {
    await thing.cleanup();
    throw err;
  }
  return thing;
}

function parentOf(pid: number): number | undefined {
  try {
    // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** `roots` and every process below them. */
export function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const todo = [...roots];
  while (todo.length) {
    const pid = todo.pop()!;
    if (out.includes(pid)) continue;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL to each pid, then wait until none is left (zombies of a dead parent are reaped by init). */
export async function killHard(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const end = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.replace(/\/$/, '');
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === prefix || p.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir` (recursive, lazily as the last resort). */
export async function unmountAll(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      await run('umount', ['-R', m]).catch(() => run('umount', ['-l', m]).catch(() => undefined));
    }
  }
}

/** Removes empty cgroup directories named `name` (containerd's per-container cgroups) under each v1 controller. */
export function removeCgroups(match: (relPath: string) => boolean): void {
  const base = '/sys/fs/cgroup';
  let controllers: string[];
  try {
    controllers = readdirSync(base);
  } catch {
    return;
  }
  for (const c of controllers) {
    const walk = (rel: string, depth: number): void => {
      if (depth > 4) return;
      let entries: string[];
      try {
        entries = readdirSync(join(base, c, rel), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return;
      }
      for (const e of entries) {
        const r = join(rel, e);
        walk(r, depth + 1);
        if (match(r)) {
          try {
            rmdirSync(join(base, c, r));
          } catch {
            // still populated or not ours
          }
        }
      }
    };
    walk('', 0);
  }
}
