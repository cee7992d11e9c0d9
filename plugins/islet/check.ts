/**
 * CHECK as IPAM wrapper: the attachment must be known and the runtime's prevResult must carry the
 * addresses islet recorded; an adopted attachment is also checked by the delegate.
 */
import { CniError, ErrorCode } from '../cni/errors.js';
import { parseResult, resultAddresses } from '../cni/result.js';
import type { Result } from '../cni/types.js';
import { targetOf, tupleOf, type WrapperContext } from './context.js';
import { classifyFailure } from './transient.js';

export async function wrapperCheck(ctx: WrapperContext): Promise<void> {
  const row = ctx.store.attachment(tupleOf(ctx));
  if (!row || (row.state !== 'active' && row.state !== 'replayed') || !row.result) {
    throw new CniError(
      ErrorCode.UnknownContainer,
      `islet has no attachment for ${ctx.args.containerId}/${ctx.args.ifname} on network ${ctx.network}`,
      row ? `state ${row.state}` : '',
    );
  }
  const recorded = resultAddresses(JSON.parse(row.result) as Result);
  if (ctx.args.conf.prevResult !== undefined) {
    const prev = resultAddresses(parseResult(ctx.args.conf.prevResult, ctx.args.conf.cniVersion));
    const missing = recorded.filter((ip) => !prev.includes(ip));
    if (missing.length > 0) {
      throw new CniError(
        ErrorCode.CheckMismatch,
        `prevResult lacks the address(es) islet assigned: ${missing.join(',')}`,
        `prevResult has ${prev.join(',') || 'none'}`,
      );
    }
  }
  if (row.state === 'replayed') return;
  const conf: Record<string, unknown> = { ...ctx.conf };
  if (ctx.args.conf.prevResult !== undefined) conf.prevResult = ctx.args.conf.prevResult;
  try {
    await ctx.delegate.check(conf, targetOf(ctx));
  } catch (err) {
    // Offline the delegate cannot confirm; islet's own record already did.
    if (classifyFailure(err, ctx.linkOffline) !== 'transient') throw err;
    ctx.log.warn(`delegate CHECK unavailable: ${(err as Error).message}`);
  }
}
