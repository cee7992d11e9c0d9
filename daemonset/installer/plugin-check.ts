/**
 * Before `islet install` changes anything, the plugin binary is run the way a container runtime
 * will run it (CNI_COMMAND=VERSION) from the host directory it is installed into. A binary that
 * cannot run there (wrong architecture or libc, a noexec mount, a broken copy) would fail every
 * pod's network setup once the CNI configuration names it, and a kubelet pointed at a proxy that
 * cannot start loses its API server: so then nothing is changed at all.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, openSync, readSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostRoot } from './host-fs.js';
import { InstallError, type Plan } from './install.js';

const VERSION_TIMEOUT_MS = 20_000;

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}

const SPAWN_ERRORS: Record<string, string> = {
  EACCES: 'it may not be executed there (not executable, or its file system is mounted noexec)',
  ENOEXEC: 'the kernel cannot execute it',
  ENOENT: 'it or its program interpreter is missing',
  ETIMEDOUT: `it did not answer within ${VERSION_TIMEOUT_MS / 1000} s`,
};

/** ELF e_machine values of the architectures Node runs on (process.arch names). */
const ELF_MACHINES: Record<string, number> = {
  ia32: 3,
  arm: 40,
  x64: 62,
  arm64: 183,
  riscv64: 243,
  ppc64: 21,
  s390x: 22,
  loong64: 258,
};

/**
 * An ELF file for another machine: execve fails with ENOEXEC, and exec*p's fallback then hands
 * the file to /bin/sh, whose syntax errors would hide the reason. So the header is read first.
 */
function architectureProblem(file: string): string | undefined {
  const head = Buffer.alloc(20);
  let n = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      n = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined; // spawning it says why
  }
  if (n < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
  const ours = ELF_MACHINES[process.arch];
  if (ours === undefined || machine === ours) return undefined;
  const theirs = Object.entries(ELF_MACHINES).find(([, m]) => m === machine)?.[0] ?? `ELF machine ${machine}`;
  return `it is built for ${theirs}, this host is ${process.arch} (ENOEXEC)`;
}

/** Why `file` does not answer a CNI VERSION call, or undefined when it does. */
export function cniVersionProblem(file: string): string | undefined {
  const arch = architectureProblem(file);
  if (arch) return arch;
  const r = spawnSync(file, [], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"1.0.0"}',
    encoding: 'utf8',
    timeout: VERSION_TIMEOUT_MS,
    maxBuffer: 1 << 20,
  });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code ?? '';
  // EPIPE: it exited without reading its stdin (allowed for VERSION); its exit status tells.
  if (r.error && code !== 'EPIPE') {
    return `${SPAWN_ERRORS[code] ?? r.error.message} (${code || 'spawn failed'})`;
  }
  if (r.signal) return `it was killed by ${r.signal}`;
  if (r.status !== 0) {
    const said = firstLine(r.stderr) || firstLine(r.stdout);
    return `it exited with status ${r.status}${said ? `: ${said}` : ''}`;
  }
  let answer: unknown;
  try {
    answer = JSON.parse(r.stdout);
  } catch {
    answer = undefined;
  }
  const a = answer as { cniVersion?: unknown; supportedVersions?: unknown } | undefined;
  const versions = a?.supportedVersions;
  if (
    typeof a !== 'object' ||
    a === null ||
    typeof a.cniVersion !== 'string' ||
    !Array.isArray(versions) ||
    versions.length === 0 ||
    !versions.every((v) => typeof v === 'string')
  ) {
    return `it printed ${JSON.stringify(r.stdout.slice(0, 200))}, not a CNI VERSION answer`;
  }
  return undefined;
}

/** The nearest existing ancestor: a file made there sits on the mount `dir` will be on. */
function existingAncestor(host: HostRoot, dir: string): string {
  let d = dir;
  while (d !== '/' && host.stat(d) === undefined) d = dirname(d);
  return d;
}

/**
 * Throws InstallError unless the plugin the plan leaves at `plan.plugin` answers VERSION. A new
 * binary is tried as a copy beside where it goes (same file system, same mount options) and the
 * copy removed again, so a failing check leaves the host exactly as it was.
 */
export function checkPluginRuns(host: HostRoot, plan: Plan): void {
  if (plan.changes.length === 0) return;
  const binary = plan.changes.find((c) => c.step === 'binary');
  let problem: string | undefined;
  if (binary?.copyFrom) {
    const trial = join(existingAncestor(host, dirname(binary.path)), `.islet-check-${process.pid}`);
    try {
      copyFileSync(binary.copyFrom.path, host.at(trial));
      chmodSync(host.at(trial), 0o755);
      problem = cniVersionProblem(host.at(trial));
    } finally {
      rmSync(host.at(trial), { force: true });
    }
  } else {
    problem = cniVersionProblem(host.at(plan.plugin));
  }
  if (problem) {
    throw new InstallError(
      `${plan.plugin} would not work as this host's CNI plugin: ${problem}. Nothing was changed.`,
    );
  }
}
