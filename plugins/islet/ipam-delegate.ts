/**
 * Talking to the delegate IPAM: builds its stdin (the parent's config with our `ipam` replaced by
 * the delegate's section), asks for sticky addresses, negotiates the spec version when the
 * delegate is older than the config (Debian's host-local 1.1.1 stops at 1.0.0).
 */
import { type DelegateCall, DelegateError, execDelegate } from '../cni/delegate.js';
import { ErrorCode } from '../cni/errors.js';
import { convertResult, parseResult } from '../cni/result.js';
import type { Command, Result } from '../cni/types.js';
import { atLeast, negotiate } from '../cni/version.js';

export interface Target {
  containerId: string;
  ifname: string;
  netns: string;
  cniArgs: string;
}

export interface DelegateEnv {
  type: string;
  path: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** The config the delegate reads: the parent's, with `ipam` = the delegate's section. */
export function delegateConf(
  parent: Record<string, unknown>,
  delegate: Record<string, unknown>,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...parent, ipam: { ...delegate } };
  // An IPAM plugin is not chained; prevResult only goes along for CHECK (added by the caller).
  delete conf.prevResult;
  return conf;
}

/** Asks host-local-style IPAMs for specific addresses (both places host-local reads). */
export function withRequestedIps(conf: Record<string, unknown>, ips: string[]): Record<string, unknown> {
  const runtimeConfig = { ...((conf.runtimeConfig as Record<string, unknown> | undefined) ?? {}), ips };
  const args = { ...((conf.args as Record<string, unknown> | undefined) ?? {}) };
  args.cni = { ...((args.cni as Record<string, unknown> | undefined) ?? {}), ips };
  return { ...conf, runtimeConfig, args };
}

/** True when the runtime itself asked for specific addresses (they win over a snapshot). */
export function runtimeRequestsIps(conf: Record<string, unknown>, cniArgs: Map<string, string>): boolean {
  const rc = conf.runtimeConfig as { ips?: unknown } | undefined;
  const a = (conf.args as { cni?: { ips?: unknown } } | undefined)?.cni;
  return (
    (Array.isArray(rc?.ips) && rc.ips.length > 0) ||
    (Array.isArray(a?.ips) && a.ips.length > 0) ||
    cniArgs.has('IP')
  );
}

function envFor(t: Target): DelegateCall['overrides'] {
  return { CNI_CONTAINERID: t.containerId, CNI_IFNAME: t.ifname, CNI_NETNS: t.netns, CNI_ARGS: t.cniArgs };
}

export class IpamDelegate {
  private versions: string[] | undefined;

  constructor(readonly d: DelegateEnv) {}

  private exec(command: Command, conf: Record<string, unknown>, target?: Target): Promise<unknown> {
    return execDelegate({
      type: this.d.type,
      command,
      conf,
      path: this.d.path,
      env: this.d.env,
      ...(target ? { overrides: envFor(target) } : {}),
      timeoutMs: this.d.timeoutMs,
    });
  }

  /** The delegate's supported versions (asked once per call of islet). */
  async supportedVersions(): Promise<string[]> {
    if (this.versions) return this.versions;
    const answer = (await this.exec('VERSION', { cniVersion: '1.1.0' })) as
      | { supportedVersions?: unknown }
      | undefined;
    const list = answer?.supportedVersions;
    if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) {
      throw new DelegateError(
        'garbage',
        ErrorCode.DelegateGarbage,
        `delegate ${this.d.type} VERSION answer has no supportedVersions`,
      );
    }
    this.versions = list as string[];
    return this.versions;
  }

  async supports(version: string): Promise<boolean> {
    return (await this.supportedVersions()).includes(version);
  }

  /**
   * Runs a verb; on "incompatible version" (code 1) retries once with the highest version the
   * delegate shares with us, converting an embedded prevResult.
   */
  private async call(command: Command, conf: Record<string, unknown>, target?: Target): Promise<unknown> {
    try {
      return await this.exec(command, conf, target);
    } catch (err) {
      if (!(err instanceof DelegateError) || err.code !== ErrorCode.IncompatibleVersion) throw err;
      const wanted = String(conf.cniVersion);
      const v = negotiate(wanted, await this.supportedVersions());
      if (!v || v === wanted) throw err;
      const downgraded: Record<string, unknown> = { ...conf, cniVersion: v };
      if (conf.prevResult !== undefined) {
        downgraded.prevResult = convertResult(parseResult(conf.prevResult, wanted), v);
      }
      return this.exec(command, downgraded, target);
    }
  }

  async add(conf: Record<string, unknown>, target: Target, ips?: string[]): Promise<Result> {
    const out = await this.call('ADD', ips ? withRequestedIps(conf, ips) : conf, target);
    try {
      return parseResult(out, String(conf.cniVersion));
    } catch (err) {
      throw new DelegateError(
        'garbage',
        ErrorCode.DelegateGarbage,
        `delegate ${this.d.type} ADD returned an invalid result: ${(err as Error).message}`,
        JSON.stringify(out)?.slice(0, 300) ?? '',
      );
    }
  }

  async del(conf: Record<string, unknown>, target: Target): Promise<void> {
    await this.call('DEL', conf, target);
  }

  async check(conf: Record<string, unknown>, target: Target): Promise<void> {
    await this.call('CHECK', conf, target);
  }

  /** GC/STATUS exist from 1.1.0; an older delegate is simply not asked. Returns whether it was. */
  async gc(
    conf: Record<string, unknown>,
    valid: { containerID: string; ifname: string }[],
  ): Promise<boolean> {
    if (!atLeast(String(conf.cniVersion), '1.1.0') || !(await this.supports('1.1.0'))) return false;
    await this.exec('GC', { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': valid });
    return true;
  }

  async status(conf: Record<string, unknown>): Promise<boolean> {
    if (!(await this.supports('1.1.0'))) return false;
    await this.exec('STATUS', { ...conf, cniVersion: '1.1.0' });
    return true;
  }
}
