/**
 * DEL as IPAM wrapper: release in the delegate, keep the pod's snapshot as `held` so its next
 * sandbox asks for the same address. Exits 0 for unknown containers, repeated calls, a missing
 * netns, and while the delegate is unreachable (the release is then retried by a later call).
 */
import { tracedAsync } from '../../lib/cni-trace.js';
import { targetOf, tupleOf, type WrapperContext } from './context.js';
import { maintain } from './maintenance.js';
import { classifyFailure } from './transient.js';

export async function wrapperDel(ctx: WrapperContext): Promise<void> {
  const { store } = ctx;
  const tuple = tupleOf(ctx);
  store.begin();
  try {
    await tracedAsync('maintain', () => maintain(ctx, tuple));
    const row = store.attachment(tuple);
    store.holdSnapshotOf(tuple, ctx.now);
    if (row?.state === 'replayed') {
      // Never adopted: the delegate holds nothing for it.
      store.deleteAttachment(tuple);
    } else {
      try {
        await ctx.delegate.del(
          row ? (JSON.parse(row.delegate_conf) as Record<string, unknown>) : ctx.conf,
          targetOf(ctx),
        );
        store.deleteAttachment(tuple);
      } catch (err) {
        if (classifyFailure(err, ctx.linkOffline) !== 'transient') throw err;
        ctx.log.warn(`delegate DEL deferred, it is unavailable: ${(err as Error).message}`);
        store.putAttachment({
          ...tuple,
          pod_namespace: row?.pod_namespace ?? ctx.pod.namespace,
          pod_name: row?.pod_name ?? ctx.pod.name,
          pod_uid: row?.pod_uid ?? ctx.pod.uid,
          netns: '',
          cni_args: ctx.args.args,
          state: 'deleting',
          ips: row?.ips ?? '[]',
          result: row?.result ?? null,
          delegate_conf: row?.delegate_conf ?? JSON.stringify(ctx.conf),
          boot_id: ctx.bootId,
          pid: ctx.self.pid,
          proc_start: ctx.self.procStart,
          created_at: row?.created_at ?? ctx.now,
          updated_at: ctx.now,
        });
      }
    }
    store.commit();
  } catch (err) {
    store.rollback();
    throw err;
  }
  ctx.log.info(`DEL ${ctx.args.containerId}/${ctx.args.ifname} pod ${ctx.pod.namespace}/${ctx.pod.name}`);
}
