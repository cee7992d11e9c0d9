/** Everything one wrapper verb needs, gathered once at the entry. */

import { readLinkState } from '../../lib/link-state.js';
import { type PodIdentity, parseCniArgs, podIdentity } from '../cni/args.js';
import type { CmdArgs } from '../cni/types.js';
import type { WrapperConfig } from './config.js';
import { currentBootId, processStartTime } from './host.js';
import { delegateConf, IpamDelegate, type Target } from './ipam-delegate.js';
import type { Logger } from './log.js';
import type { AttachmentRow, PodKey, Store, Tuple } from './store.js';

export interface WrapperContext {
  args: CmdArgs;
  cfg: WrapperConfig;
  store: Store;
  log: Logger;
  network: string;
  pod: PodIdentity;
  cniArgs: Map<string, string>;
  bootId: string;
  now: number;
  readonly self: { pid: number; procStart: string };
  /** The proxy's view of the cloud link; only 'offline' changes a decision. */
  readonly linkOffline: boolean;
  /** The delegate's config for this call (no requested IPs). */
  conf: Record<string, unknown>;
  delegate: IpamDelegate;
  /** A delegate for a stored attachment (its own type and config). */
  delegateFor(row: AttachmentRow): { delegate: IpamDelegate; conf: Record<string, unknown>; target: Target };
}

export function createWrapperContext(
  args: CmdArgs,
  cfg: WrapperConfig,
  store: Store,
  log: Logger,
): WrapperContext {
  const cniArgs = parseCniArgs(args.args);
  const delegates = new Map<string, IpamDelegate>();
  const delegateOfType = (type: string) => {
    let d = delegates.get(type);
    if (!d) {
      d = new IpamDelegate({ type, path: args.path, env: args.env, timeoutMs: cfg.delegateTimeoutMs });
      delegates.set(type, d);
    }
    return d;
  };
  const now = Date.now();
  // Read when first asked: a DEL records no pending row, and only a failing delegate call needs
  // the link's state; each file read is time every CNI call would pay.
  let self: WrapperContext['self'] | undefined;
  let linkOffline: boolean | undefined;
  return {
    args,
    cfg,
    store,
    log,
    network: args.conf.name,
    pod: podIdentity(cniArgs),
    cniArgs,
    bootId: currentBootId(args.env),
    now,
    get self() {
      self ??= { pid: process.pid, procStart: processStartTime(process.pid) ?? '' };
      return self;
    },
    get linkOffline() {
      linkOffline ??= readLinkState(cfg.linkStateFile, 60_000, now) === 'offline';
      return linkOffline;
    },
    conf: delegateConf(args.conf, cfg.delegate),
    delegate: delegateOfType(cfg.delegateType),
    delegateFor(row) {
      const conf = JSON.parse(row.delegate_conf) as Record<string, unknown>;
      const type = String((conf.ipam as { type?: unknown } | undefined)?.type ?? cfg.delegateType);
      return {
        delegate: delegateOfType(type),
        conf,
        target: {
          containerId: row.container_id,
          ifname: row.ifname,
          netns: row.netns,
          cniArgs: row.cni_args,
        },
      };
    },
  };
}

export function tupleOf(ctx: WrapperContext): Tuple {
  return { network: ctx.network, container_id: ctx.args.containerId, ifname: ctx.args.ifname };
}

export function targetOf(ctx: WrapperContext): Target {
  return {
    containerId: ctx.args.containerId,
    ifname: ctx.args.ifname,
    netns: ctx.args.netns,
    cniArgs: ctx.args.args,
  };
}

/** The snapshot key, or undefined when the runtime named no pod (nothing to be sticky to). */
export function podKeyOf(ctx: WrapperContext): PodKey | undefined {
  if (ctx.pod.name === '') return undefined;
  return {
    network: ctx.network,
    pod_namespace: ctx.pod.namespace,
    pod_name: ctx.pod.name,
    ifname: ctx.args.ifname,
  };
}

export function samePod(
  row: { pod_namespace: string; pod_name: string; ifname: string },
  key: PodKey,
): boolean {
  return (
    row.pod_namespace === key.pod_namespace && row.pod_name === key.pod_name && row.ifname === key.ifname
  );
}
