/**
 * STATUS as IPAM wrapper: ready when the delegate is, and also when it is not but ADD could still be
 * served by replaying snapshots (kubelet refuses every pod while the network reports not ready).
 */
import { findInPath } from '../cni/delegate.js';
import { CniError, ErrorCode } from '../cni/errors.js';
import type { WrapperContext } from './context.js';
import { maintain } from './maintenance.js';

export async function wrapperStatus(ctx: WrapperContext): Promise<void> {
  const { store } = ctx;
  try {
    findInPath(ctx.cfg.delegateType, ctx.args.path);
  } catch (err) {
    throw new CniError(ErrorCode.PluginNotAvailable, (err as Error).message);
  }
  store.begin();
  let health: Awaited<ReturnType<typeof maintain>>;
  try {
    health = await maintain(ctx);
    store.commit();
  } catch (err) {
    store.rollback();
    throw err;
  }
  let failure: Error | undefined;
  if (health === 'down') failure = new Error('the delegate failed during maintenance');
  else {
    try {
      await ctx.delegate.status(ctx.conf);
    } catch (err) {
      failure = err as Error;
    }
  }
  if (!failure) return;
  const replayable = store.replayableCount(ctx.network, ctx.now - ctx.cfg.snapshotTtlMs);
  if (replayable > 0) {
    ctx.log.warn(
      `delegate not ready (${failure.message}); ready anyway: ${replayable} snapshot(s) can be replayed`,
    );
    return;
  }
  throw new CniError(
    ErrorCode.PluginNotAvailable,
    `delegate ${ctx.cfg.delegateType} is not available and there is no snapshot to replay: ${failure.message}`,
  );
}
