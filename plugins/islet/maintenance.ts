/**
 * Work left by earlier calls, done at the start of ADD/DEL/GC/STATUS under the write lock and
 * before anything new is allocated: repair ADDs whose process died (release what the delegate may
 * have reserved), finish DELs the delegate could not take, adopt replayed attachments into the
 * delegate, and reap expired snapshots. Stops at the first transient delegate failure: the
 * delegate is still down and every further call would wait for the same timeout.
 */
import { resultAddresses } from '../cni/result.js';
import type { Result } from '../cni/types.js';
import type { WrapperContext } from './context.js';
import { bootStartMs, isProcessAlive, netnsExists, settleOrphanDelegates } from './host.js';
import type { AttachmentRow, AttachmentState, Tuple } from './store.js';
import { classifyFailure } from './transient.js';

export type DelegateHealth = 'working' | 'down' | 'untested';

function sameTuple(a: Tuple, b: Tuple): boolean {
  return a.network === b.network && a.container_id === b.container_id && a.ifname === b.ifname;
}

function describe(row: Tuple): string {
  return `${row.container_id}/${row.ifname}`;
}

/** Releases one stored attachment in the delegate. True when done, false when the delegate is down. */
export async function releaseInDelegate(ctx: WrapperContext, row: AttachmentRow): Promise<boolean> {
  const { delegate, conf, target } = ctx.delegateFor(row);
  try {
    await delegate.del(conf, { ...target, netns: netnsExists(target.netns) ? target.netns : '' });
    return true;
  } catch (err) {
    if (classifyFailure(err, ctx.linkOffline) === 'transient') return false;
    // A delegate that refuses to release (broken config) must not wedge every later call.
    ctx.log.warn(`delegate DEL of ${describe(row)} failed, dropping the record: ${(err as Error).message}`);
    return true;
  }
}

async function adopt(ctx: WrapperContext, row: AttachmentRow): Promise<'adopted' | 'down' | 'failed'> {
  const { delegate, conf, target } = ctx.delegateFor(row);
  const ips = (JSON.parse(row.ips) as string[]).map((cidr) => cidr.slice(0, cidr.lastIndexOf('/')));
  try {
    // Clear whatever a timed-out ADD of this sandbox may have left, then take the replayed address.
    await delegate.del(conf, target);
    const result: Result = await delegate.add(conf, target, ips);
    const got = resultAddresses(result).sort();
    if (JSON.stringify(got) !== JSON.stringify([...ips].sort())) {
      await delegate.del(conf, target);
      ctx.log.error(`adopting ${describe(row)}: delegate gave ${got.join(',')} instead of ${ips.join(',')}`);
      return 'failed';
    }
    ctx.store.setAttachmentState(row, 'active', ctx.now);
    ctx.log.info(`adopted replayed ${ips.join(',')} of ${describe(row)} into the delegate`);
    return 'adopted';
  } catch (err) {
    if (classifyFailure(err, ctx.linkOffline) === 'transient') return 'down';
    ctx.log.error(`adopting replayed ${ips.join(',')} of ${describe(row)} failed: ${(err as Error).message}`);
    return 'failed';
  }
}

export async function maintain(ctx: WrapperContext, own?: Tuple): Promise<DelegateHealth> {
  const { store, network } = ctx;
  const cutoff = ctx.now - ctx.cfg.snapshotTtlMs;
  const bootStart = bootStartMs(ctx.now);
  if (!store.maintenanceDue(network, own, cutoff, ctx.bootId, bootStart < cutoff)) return 'untested';
  let health: DelegateHealth = 'untested';
  // One query for all three kinds (usually none): no pass below makes rows another pass looks for.
  const unfinished = store.unfinishedAttachments(network);
  const inState = (state: AttachmentState) => unfinished.filter((row) => row.state === state);

  for (const row of inState('pending')) {
    if ((own && sameTuple(row, own)) || isProcessAlive(row, ctx.bootId)) continue;
    if (row.boot_id === ctx.bootId)
      await settleOrphanDelegates(row.container_id, row.ifname, ctx.cfg.delegateTimeoutMs);
    if (!(await releaseInDelegate(ctx, row))) return 'down';
    health = 'working';
    store.deleteAttachment(row);
    ctx.log.info(`repaired interrupted ADD of ${describe(row)} (pid ${row.pid} is gone)`);
  }

  for (const row of inState('deleting')) {
    if (own && sameTuple(row, own)) continue;
    if (!(await releaseInDelegate(ctx, row))) return 'down';
    health = 'working';
    store.deleteAttachment(row);
    ctx.log.info(`finished deferred DEL of ${describe(row)}`);
  }

  for (const row of inState('replayed')) {
    if (own && sameTuple(row, own)) continue;
    const outcome = await adopt(ctx, row);
    if (outcome === 'down') return 'down';
    health = 'working';
  }

  return (await reap(ctx, cutoff, bootStart)) ? health : 'down';
}

/**
 * TTL: held and stale snapshots expire snapshotTTL after they stopped being used; reservations
 * kept for them (held attachments, or attachments of an earlier boot that nobody DELed) go too.
 */
async function reap(ctx: WrapperContext, cutoff: number, bootStart: number): Promise<boolean> {
  const { store, network } = ctx;
  for (const snap of store.expiredSnapshots(network, cutoff)) {
    store.deleteSnapshot(snap);
    ctx.log.info(
      `reaped expired ${snap.state} snapshot of ${snap.pod_namespace}/${snap.pod_name} (${snap.ips})`,
    );
  }
  for (const row of store.reapableAttachments(network, cutoff, ctx.bootId, bootStart < cutoff)) {
    const expiredOldBoot = row.state === 'active';
    if (!(await releaseInDelegate(ctx, row))) return false;
    store.deleteAttachment(row);
    // Its snapshot stopped being used at the latest when this boot began.
    if (expiredOldBoot) store.holdSnapshotOf(row, bootStart);
    ctx.log.info(`released expired reservation ${row.ips} of ${describe(row)}`);
  }
  return true;
}
