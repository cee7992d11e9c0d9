/**
 * The islet CNI plugin's entry: reads process.env and stdin, runs one verb, prints exactly one JSON
 * object on stdout (result, VERSION answer or error) and returns the exit code. The role (IPAM
 * wrapper or chained recorder) comes from the config; the config is parsed after libcni's own
 * validation so the codes match what a runtime expects.
 */
import { traced, tracedAsync } from '../../lib/cni-trace.js';
import { dispatch, type PluginVerbs } from '../cni/skel.js';
import { processIo } from '../cni/stdio.js';
import type { CmdArgs } from '../cni/types.js';
import { parseConfig } from './config.js';
import { createLogger } from './log.js';

/** Longer than any delegate call a parallel ADD may be holding the write lock for. */
function busyTimeoutMs(delegateTimeoutMs: number): number {
  return Math.max(60_000, 6 * delegateTimeoutMs);
}

/** Every CNI call is its own process and main()'s caller exits right after (cmd/islet.ts). */
const ONE_SHOT = { oneShot: true };

/**
 * The verbs for this config. Store, delegate and role modules load here, after validation, so
 * VERSION and rejected input never pay for SQLite (every CNI call is a fresh process).
 */
async function verbsFor(args: CmdArgs): Promise<PluginVerbs> {
  const cfg = traced('config', () => parseConfig(args.conf));
  const log = createLogger(cfg.logLevel, cfg.logFile, `${args.command} ${args.conf.name}`);
  const { Store } = await tracedAsync('modules', () => import('./store.js'));
  if (cfg.role === 'chained') {
    const { recorderVerbs } = await tracedAsync('modules', () => import('./recorder.js'));
    return recorderVerbs(() => Store.open(cfg.database, busyTimeoutMs(10_000), ONE_SHOT), log);
  }
  const { wrapperVerbs } = await tracedAsync('modules', () => import('./wrapper.js'));
  return wrapperVerbs(
    cfg,
    () => Store.open(cfg.database, busyTimeoutMs(cfg.delegateTimeoutMs), ONE_SHOT),
    log,
  );
}

/** Each verb builds its implementation only after the skel has validated env and stdin. */
export const isletVerbs: PluginVerbs = {
  add: async (args) => (await verbsFor(args)).add(args),
  del: async (args) => (await verbsFor(args)).del(args),
  check: async (args) => (await verbsFor(args)).check(args),
  gc: async (args) => (await verbsFor(args)).gc(args),
  status: async (args) => (await verbsFor(args)).status(args),
};

/** Runs one CNI call. The caller must process.exit() with the code: see StoreOptions.oneShot. */
export function main(): Promise<number> {
  return dispatch(isletVerbs, processIo());
}
