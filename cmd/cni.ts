/**
 * A CNI call: the plugin's main, then process.exit with its code. The single executable runs this
 * as a bundle of its own (scripts/build.mjs: the plugin's code alone, a fraction of islet's), and
 * cmd/islet.ts calls it when CNI_COMMAND is set, so `node dist/islet.cjs` is the plugin as well.
 */
import { tracedAsync, traceEntry } from '../lib/cni-trace.js';

export async function cniMain(): Promise<never> {
  try {
    traceEntry();
    const { main } = await tracedAsync('modules', () => import('../plugins/islet/main.js'));
    // process.exit, not a return: it skips better-sqlite3's close-at-exit hook, so the store's WAL
    // is neither checkpointed nor deleted (plugins/islet/store.ts, StoreOptions.oneShot). Every
    // answer is already written synchronously (plugins/cni/stdio.ts).
    process.exit(await main());
  } catch (err) {
    // main() answers every CNI failure itself; this is islet's own code failing to load.
    process.stderr.write(`islet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
}
