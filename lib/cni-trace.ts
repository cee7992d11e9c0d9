/**
 * Per-phase timings of one CNI call, for finding where its time goes (`ISLET_CNI_TRACE=1`).
 * At exit the call prints one JSON line on stderr: milliseconds per phase, `start` being Node's
 * own start-up (process start to the first line of islet's code, performance.timeOrigin based),
 * `load` the single executable's main reading and compiling the plugin's bundle (cmd/sea-main.ts),
 * `bundle` that bundle's top level, and `total` process start to exit; `other` is what no phase
 * claims (argument checks, JSON, exit). Beside the phases, `codeCache` says whether V8 took the
 * bundle's code cache. Off (the default) every helper is one boolean test, so the hot path pays
 * nothing for it.
 */
import { writeSync } from 'node:fs';

const enabled = process.env.ISLET_CNI_TRACE === '1';
const phases: Record<string, number> = {};

declare global {
  /** Set by the bundle's banner (scripts/build.mjs): performance.now() at its first line. */
  var __isletBundleStart: number | undefined;
  /** Set by the single executable's main (cmd/sea-main.ts) before it runs the bundle. */
  var __isletLoad: { start: number; end: number; codeCache: 'accepted' | 'rejected' | 'absent' } | undefined;
}

/** Time of phases nested in the one being measured (a CNI call is sequential: one stack). */
let nested = 0;

function add(phase: string, ms: number): void {
  phases[phase] = (phases[phase] ?? 0) + ms;
}

/** A phase's own time excludes the phases nested in it, so the phases add up to the total. */
function finish(phase: string, t0: number, outer: number): void {
  const ms = performance.now() - t0;
  add(phase, ms - nested);
  nested = outer + ms;
}

/** Runs `fn`, adding its duration to `phase`. */
export function traced<T>(phase: string, fn: () => T): T {
  if (!enabled) return fn();
  const outer = nested;
  nested = 0;
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    finish(phase, t0, outer);
  }
}

/** Runs the async `fn`, adding its duration (until it settles) to `phase`. */
export async function tracedAsync<T>(phase: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const outer = nested;
  nested = 0;
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    finish(phase, t0, outer);
  }
}

/** Marks the entry into the CNI code: `bundle` is the time from the bundle's first line to here. */
export function traceEntry(): void {
  if (!enabled) return;
  const bundleStart = globalThis.__isletBundleStart;
  const loader = globalThis.__isletLoad;
  const now = performance.now();
  if (bundleStart !== undefined) {
    add('start', loader?.start ?? bundleStart);
    if (loader) add('load', bundleStart - loader.start);
    add('bundle', now - bundleStart);
  } else add('start', now);
  const codeCache = loader?.codeCache ?? 'none';
  process.on('exit', () => {
    const total = performance.now();
    const claimed = Object.values(phases).reduce((a, b) => a + b, 0);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(phases)) out[k] = round(v);
    out.other = round(total - claimed);
    out.total = round(total);
    writeSync(2, `${JSON.stringify({ isletCniTrace: out, codeCache })}\n`);
  });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
