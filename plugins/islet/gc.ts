/**
 * GC as IPAM wrapper: attachments the runtime no longer lists become `held` (their snapshots stay,
 * and the delegate keeps their reservation until the pod's next sandbox takes it over or the TTL
 * reaps it); the delegate's own GC is told about them so it keeps those addresses reserved.
 */
import { attachmentSet, inSet, validAttachments } from './attachments-arg.js';
import type { WrapperContext } from './context.js';
import { maintain } from './maintenance.js';
import { classifyFailure } from './transient.js';

export async function wrapperGc(ctx: WrapperContext): Promise<void> {
  const { store } = ctx;
  const valid = validAttachments(ctx.args.conf);
  const keep = attachmentSet(valid);
  store.begin();
  try {
    await maintain(ctx);
    for (const row of store.attachments(ctx.network)) {
      if (inSet(keep, row.container_id, row.ifname)) continue;
      if (row.state === 'active') {
        store.setAttachmentState(row, 'held', ctx.now);
        store.holdSnapshotOf(row, ctx.now);
        ctx.log.info(`GC: ${row.container_id}/${row.ifname} is gone; holding ${row.ips} for its pod`);
      } else if (row.state === 'replayed') {
        store.deleteAttachment(row);
        store.holdSnapshotOf(row, ctx.now);
      }
    }
    const held = store
      .attachmentsIn(ctx.network, 'held')
      .map((row) => ({ containerID: row.container_id, ifname: row.ifname }));
    const conf: Record<string, unknown> = { ...ctx.conf };
    delete conf['cni.dev/attachments'];
    try {
      const forwarded = await ctx.delegate.gc(conf, [...valid, ...held]);
      if (forwarded) {
        // The delegate's GC released everything not listed, deferred DELs included.
        for (const row of store.attachmentsIn(ctx.network, 'deleting')) store.deleteAttachment(row);
      }
    } catch (err) {
      if (classifyFailure(err, ctx.linkOffline) !== 'transient') throw err;
      ctx.log.warn(`delegate GC skipped, it is unavailable: ${(err as Error).message}`);
    }
    store.commit();
  } catch (err) {
    store.rollback();
    throw err;
  }
}
