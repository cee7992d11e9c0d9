/**
 * ADD as IPAM wrapper. Two transactions: the first commits a `pending` intent (so a crash anywhere
 * later is repaired by the next call), the second holds the write lock across maintenance →
 * snapshot lookup → delegate → commit, so parallel ADDs are serialised and replayed addresses are
 * adopted before anything new is allocated.
 */
import { traced, tracedAsync } from '../../lib/cni-trace.js';
import { DelegateError } from '../cni/delegate.js';
import { CniError, ErrorCode } from '../cni/errors.js';
import { convertResult, resultAddresses, splitCidr } from '../cni/result.js';
import type { Result } from '../cni/types.js';
import { podKeyOf, samePod, targetOf, tupleOf, type WrapperContext } from './context.js';
import { bootStartMs, isProcessAlive, netnsExists, settleOrphanDelegates } from './host.js';
import { reservationHolder } from './host-local.js';
import { runtimeRequestsIps } from './ipam-delegate.js';
import { maintain, releaseInDelegate } from './maintenance.js';
import { delegateRanges } from './ranges.js';
import type { AttachmentRow, PodKey, SnapshotRow } from './store.js';
import { classifyFailure } from './transient.js';

type Claim =
  | { kind: 'new' }
  | { kind: 'takeover'; previous: AttachmentRow }
  | { kind: 'existing'; row: AttachmentRow };

/**
 * First transaction: record the intent, or find that this sandbox interface is already known.
 * Usually it is new: then inserting the pending row is the whole transaction.
 */
function claim(ctx: WrapperContext): Claim {
  const { store } = ctx;
  return store.txSurvivingCrash(() => {
    const pending: AttachmentRow = {
      ...tupleOf(ctx),
      pod_namespace: ctx.pod.namespace,
      pod_name: ctx.pod.name,
      pod_uid: ctx.pod.uid,
      netns: ctx.args.netns,
      cni_args: ctx.args.args,
      state: 'pending',
      ips: '[]',
      result: null,
      delegate_conf: JSON.stringify(ctx.conf),
      boot_id: ctx.bootId,
      pid: ctx.self.pid,
      proc_start: ctx.self.procStart,
      created_at: ctx.now,
      updated_at: ctx.now,
    };
    if (store.addAttachment(pending)) return { kind: 'new' } as const;
    const existing = store.attachment(tupleOf(ctx))!;
    if ((existing.state === 'active' || existing.state === 'replayed') && existing.result) {
      return { kind: 'existing', row: existing } as const;
    }
    if (existing.state === 'pending' && isProcessAlive(existing, ctx.bootId)) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `another ADD for ${ctx.args.containerId}/${ctx.args.ifname} is in progress (pid ${existing.pid})`,
      );
    }
    store.putAttachment(pending);
    return { kind: 'takeover', previous: existing } as const;
  });
}

interface Validity {
  valid: boolean;
  reason: string;
}

/** Valid: not stale, UID matches, within the TTL, inside the delegate's current ranges. */
export function judgeSnapshot(ctx: WrapperContext, snap: SnapshotRow | undefined): Validity {
  if (!snap) return { valid: false, reason: 'no snapshot' };
  if (snap.state === 'stale')
    return { valid: false, reason: `snapshot is stale (${snap.stale_reason ?? ''})` };
  if (ctx.cfg.requireUidMatch && snap.pod_uid !== '' && ctx.pod.uid !== '' && snap.pod_uid !== ctx.pod.uid) {
    return { valid: false, reason: `snapshot belongs to pod UID ${snap.pod_uid}, not ${ctx.pod.uid}` };
  }
  const lastUsed =
    snap.state === 'held'
      ? (snap.held_at ?? snap.updated_at)
      : snap.boot_id === ctx.bootId
        ? ctx.now
        : Math.max(snap.updated_at, bootStartMs(ctx.now));
  if (ctx.now - lastUsed > ctx.cfg.snapshotTtlMs)
    return { valid: false, reason: 'snapshot is older than snapshotTTL' };
  const ranges = delegateRanges(ctx.cfg.delegate, ctx.args.conf.runtimeConfig);
  if (ranges) {
    for (const ip of snapshotIps(snap)) {
      if (!ranges.contains(ip))
        return { valid: false, reason: `${ip} is outside the delegate's current ranges` };
    }
  }
  return { valid: true, reason: '' };
}

function snapshotIps(snap: SnapshotRow): string[] {
  return (JSON.parse(snap.ips) as string[]).map((c) => splitCidr(c)[0]);
}

/** An older sandbox of this pod holding the address: our record of it, if we still have one. */
interface OldSandbox {
  containerId: string;
  ifname: string;
  row: AttachmentRow | undefined;
}

type Holding =
  | { kind: 'free' }
  | { kind: 'own-old'; sandboxes: OldSandbox[] }
  | { kind: 'foreign'; who: string };

/**
 * Who holds the snapshot's addresses in the delegate, judged against our records: the pod's own
 * older sandbox that is provably dead (earlier boot, held/deleting, dead pending, netns gone), or
 * the sandbox the snapshot itself was taken from once it is held (a DEL the delegate acknowledged
 * without removing the file, e.g. on a read-only data dir) — or anyone else.
 */
function holders(ctx: WrapperContext, key: PodKey, snap: SnapshotRow, ips: string[]): Holding {
  const own: OldSandbox[] = [];
  for (const ip of ips) {
    const h = reservationHolder(ctx.cfg.delegate, ctx.network, ip);
    if (!h) continue;
    if (h.containerId === ctx.args.containerId && h.ifname === ctx.args.ifname) continue;
    const row = ctx.store.attachment({ network: ctx.network, container_id: h.containerId, ifname: h.ifname });
    const dead =
      row !== undefined &&
      (row.boot_id !== ctx.bootId ||
        row.state === 'held' ||
        row.state === 'deleting' ||
        (row.state === 'pending' && !isProcessAlive(row, ctx.bootId)) ||
        !netnsExists(row.netns));
    const snapshotSource =
      row === undefined &&
      h.containerId === snap.container_id &&
      (h.ifname === '' || h.ifname === snap.ifname) &&
      (snap.state === 'held' || snap.boot_id !== ctx.bootId);
    if ((row && samePod(row, key) && dead) || snapshotSource) {
      own.push({ containerId: h.containerId, ifname: h.ifname || snap.ifname, row });
    } else return { kind: 'foreign', who: `${h.containerId}/${h.ifname}` };
  }
  return own.length > 0 ? { kind: 'own-old', sandboxes: own } : { kind: 'free' };
}

/** Releases an old sandbox's hold in the delegate; false while the delegate is down. */
async function releaseOld(ctx: WrapperContext, old: OldSandbox): Promise<boolean> {
  if (old.row) {
    if (!(await releaseInDelegate(ctx, old.row))) return false;
    ctx.store.deleteAttachment(old.row);
    return true;
  }
  try {
    await ctx.delegate.del(ctx.conf, {
      containerId: old.containerId,
      ifname: old.ifname,
      netns: '',
      cniArgs: ctx.args.args,
    });
    return true;
  } catch (err) {
    return classifyFailure(err, ctx.linkOffline) !== 'transient';
  }
}

interface Outcome {
  result: Result;
  state: 'active' | 'replayed';
  staleReason: string | null;
}

async function fresh(ctx: WrapperContext, why: string, staleReason: string | null): Promise<Outcome> {
  try {
    const result = await ctx.delegate.add(ctx.conf, targetOf(ctx));
    return { result, state: 'active', staleReason };
  } catch (err) {
    if (classifyFailure(err, ctx.linkOffline) === 'transient') {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `delegate ${ctx.cfg.delegateType} is unavailable and there is no snapshot to replay (${why}): ${(err as Error).message}`,
        (err as CniError).details ?? '',
        err,
      );
    }
    throw err;
  }
}

async function sticky(ctx: WrapperContext, key: PodKey, snap: SnapshotRow): Promise<Outcome> {
  const ips = snapshotIps(snap);
  const stale = (reason: string) => {
    ctx.store.markStale(key, reason, ctx.now);
    ctx.log.warn(
      `snapshot of ${key.pod_namespace}/${key.pod_name} is stale: ${reason}; taking a fresh address`,
    );
    return fresh(ctx, 'snapshot became stale', reason);
  };
  let retried = false;
  for (;;) {
    try {
      const result = await ctx.delegate.add(ctx.conf, targetOf(ctx), ips);
      return { result, state: 'active', staleReason: null };
    } catch (err) {
      const kind = classifyFailure(err, ctx.linkOffline);
      if (kind === 'transient') {
        const h = holders(ctx, key, snap, ips);
        if (h.kind === 'foreign') {
          throw new CniError(
            ErrorCode.TryAgainLater,
            `delegate unavailable (${(err as Error).message}) and the recorded ${ips.join(',')} is held by ${h.who}; not replaying`,
            '',
            err,
          );
        }
        ctx.log.warn(`delegate failed transiently (${(err as Error).message}); replaying ${ips.join(',')}`);
        return { result: JSON.parse(snap.result) as Result, state: 'replayed', staleReason: null };
      }
      if (kind === 'unfit') return stale(`delegate refused ${ips.join(',')}: ${(err as Error).message}`);
      if (kind !== 'conflict') throw err;
      const h = holders(ctx, key, snap, ips);
      if (h.kind === 'foreign') return stale(`${ips.join(',')} is held by another container ${h.who}`);
      if (h.kind === 'free' || retried)
        return stale(`${ips.join(',')} is not available: ${(err as Error).message}`);
      for (const old of h.sandboxes) {
        if (!(await releaseOld(ctx, old))) {
          throw new CniError(
            ErrorCode.TryAgainLater,
            `cannot release ${old.containerId}'s hold on ${ips.join(',')} yet`,
          );
        }
        ctx.log.info(`released ${ips.join(',')} from this pod's older sandbox ${old.containerId}`);
      }
      retried = true;
    }
  }
}

export async function wrapperAdd(ctx: WrapperContext): Promise<Record<string, unknown>> {
  const { store } = ctx;
  const c = claim(ctx);
  if (c.kind === 'existing') {
    ctx.log.info(
      `ADD repeated for ${ctx.args.containerId}/${ctx.args.ifname}: returning the recorded result`,
    );
    return convertResult(JSON.parse(c.row.result!) as Result, ctx.args.conf.cniVersion);
  }
  let outcome: Outcome | undefined;
  store.begin();
  try {
    await tracedAsync('maintain', () => maintain(ctx, tupleOf(ctx)));
    if (c.kind === 'takeover' && c.previous.state !== 'replayed') {
      if (c.previous.state === 'pending')
        await settleOrphanDelegates(ctx.args.containerId, ctx.args.ifname, ctx.cfg.delegateTimeoutMs);
      await releaseInDelegate(ctx, c.previous);
    }

    const key = podKeyOf(ctx);
    const snap = key ? store.snapshot(key) : undefined;
    const validity = traced('snapshot', () => judgeSnapshot(ctx, snap));
    if (key && snap && validity.valid && !runtimeRequestsIps(ctx.args.conf, ctx.cniArgs)) {
      outcome = await sticky(ctx, key, snap);
    } else {
      if (snap)
        ctx.log.info(`not using snapshot of ${ctx.pod.namespace}/${ctx.pod.name}: ${validity.reason}`);
      outcome = await fresh(ctx, validity.reason, null);
    }
    record(ctx, key, outcome);
    store.commit();
  } catch (err) {
    store.rollback();
    if (outcome?.state === 'active') {
      // The delegate reserved an address we could not record: give it back, never leak it.
      await ctx.delegate.del(ctx.conf, targetOf(ctx)).catch(() => undefined);
    }
    forgetIntent(ctx, err);
    throw err;
  }
  const ips = resultAddresses(outcome.result).join(',');
  ctx.log.info(
    `ADD ${ctx.args.containerId}/${ctx.args.ifname} pod ${ctx.pod.namespace}/${ctx.pod.name}: ${ips} (${outcome.state})`,
  );
  return convertResult(outcome.result, ctx.args.conf.cniVersion);
}

function record(ctx: WrapperContext, key: PodKey | undefined, o: Outcome): void {
  const ips = JSON.stringify((o.result.ips ?? []).map((ip) => ip.address));
  const result = JSON.stringify({ ...o.result, cniVersion: '1.1.0' });
  ctx.store.setAttachmentState(tupleOf(ctx), o.state, ctx.now, ips, result);
  if (key) {
    ctx.store.putSnapshot(
      key,
      {
        pod_uid: ctx.pod.uid,
        ips,
        result,
        container_id: ctx.args.containerId,
        boot_id: ctx.bootId,
        stale_reason: o.staleReason,
      },
      ctx.now,
    );
  }
}

/**
 * After a failed ADD the pending row goes, unless the delegate may hold something for it (timeout,
 * crash, garbage): then it stays for the repair of a later call, which DELs it in the delegate.
 */
function forgetIntent(ctx: WrapperContext, err: unknown): void {
  const origin = err instanceof Error && err.cause instanceof DelegateError ? err.cause : err;
  if (origin instanceof DelegateError && origin.kind !== 'cni') return;
  try {
    ctx.store.tx(() => ctx.store.deleteAttachment(tupleOf(ctx)));
  } catch (e) {
    ctx.log.warn(`could not drop the pending record: ${(e as Error).message}`);
  }
}
