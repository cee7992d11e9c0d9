/**
 * What the benchmarks here do alike (one home, so every report means the same): run a benchmark's
 * main as the process's exit code, build dist/islet when it is missing, measure variants
 * interleaved, and say how loaded the machine was.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isletBinary, repoRoot } from '../../test/islet-binary.js';

/** Runs `main` and exits with its code; a throw prints its stack and exits 1. */
export function runBench(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

/** Builds dist/islet (npm run build) unless it is there. */
export function ensureBuilt(): void {
  if (existsSync(isletBinary)) return;
  execFileSync(process.execPath, [join(repoRoot, 'scripts/build.mjs')], { cwd: repoRoot, stdio: 'inherit' });
}

/** The 1, 5 and 15 minute load averages, for the report (a 2-core machine's medians move with it). */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Milliseconds `fn` took. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface InterleaveOptions {
  rounds: number;
  warmup: number;
  /** Checked before each round: true ends the measuring early (Ctrl-C), keeping what was measured. */
  stop?: () => boolean;
}

/**
 * Runs every variant once per round, in an order that rotates from round to round (so machine
 * noise and one variant's after-effects hit all of them alike), after `warmup` unrecorded rounds.
 * Returns each variant's results in round order.
 */
export async function interleave<T>(
  names: string[],
  o: InterleaveOptions,
  run: (name: string) => Promise<T>,
): Promise<Record<string, T[]>> {
  const out: Record<string, T[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < o.warmup + o.rounds && !o.stop?.(); round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const result = await run(name);
      if (round >= o.warmup) out[name]!.push(result);
    }
  }
  return out;
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system, ms) of this process's children that have exited and been waited for,
 * with theirs in turn: fields cutime and cstime of /proc/self/stat. The difference across a
 * sample is what its processes cost in CPU, which a machine shared with other work moves far less
 * than their wall time. Kernel clock ticks (10 ms), exact in sums: report means over many samples.
 */
export function childrenCpuMs(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: field 3 is index 0, so cutime (16) and cstime (17) are 13 and 14.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / clockTicks;
}
