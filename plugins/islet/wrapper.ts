/** The IPAM wrapper's verbs over one opened store. */
import { traced } from '../../lib/cni-trace.js';
import { CniError, ErrorCode } from '../cni/errors.js';
import type { PluginVerbs } from '../cni/skel.js';
import type { CmdArgs } from '../cni/types.js';
import { wrapperAdd } from './add.js';
import { wrapperCheck } from './check.js';
import type { WrapperConfig } from './config.js';
import { createWrapperContext, type WrapperContext } from './context.js';
import { wrapperDel } from './del.js';
import { wrapperGc } from './gc.js';
import type { Logger } from './log.js';
import { wrapperStatus } from './status.js';
import type { Store } from './store.js';

export function wrapperVerbs(cfg: WrapperConfig, open: () => Store, log: Logger): PluginVerbs {
  const withContext = async <T>(args: CmdArgs, fn: (ctx: WrapperContext) => Promise<T>): Promise<T> => {
    const store = open();
    try {
      return await fn(traced('context', () => createWrapperContext(args, cfg, store, log)));
    } finally {
      store.close();
    }
  };
  return {
    add: (args) => withContext(args, wrapperAdd),
    del: (args) => withContext(args, wrapperDel),
    check: (args) => withContext(args, wrapperCheck),
    gc: (args) => withContext(args, wrapperGc),
    status: async (args) => {
      try {
        return await withContext(args, wrapperStatus);
      } catch (err) {
        if (err instanceof CniError && err.code === ErrorCode.IoFailure) {
          throw new CniError(ErrorCode.PluginNotAvailable, err.message, err.details);
        }
        throw err;
      }
    },
  };
}
