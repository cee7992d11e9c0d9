/**
 * Whether kubelet is demonstrably alive, judged by its node lease renewals (online ones the
 * policy observes, offline ones it answers). A lease is answered locally only while kubelet
 * renewed within the window: by default twice its leaseDurationSeconds, the point where the
 * node lifecycle controller would call the node dead. The proxy's own downtime is not held
 * against kubelet: the window of a lease never seen counts from the policy's start.
 */
export interface LeaseLivenessOptions {
  /** Fixed window in ms; default 2 × the lease's leaseDurationSeconds. */
  windowMs?: number;
  now?: () => number;
}

export const DEFAULT_LEASE_DURATION_SECONDS = 40;

export type Liveness = { alive: true } | { alive: false; silentMs: number; windowMs: number };

export class LeaseLiveness {
  private readonly seen = new Map<string, { renewedAt: number; durationSeconds: number }>();
  private readonly startedAt: number;
  private readonly now: () => number;

  constructor(private readonly opts: LeaseLivenessOptions = {}) {
    if (opts.windowMs !== undefined && !(opts.windowMs > 0)) {
      throw new Error(`lease liveness window must be positive, got ${opts.windowMs}`);
    }
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** A renewal of the lease `name` happened now (answered upstream or locally). */
  record(name: string, durationSeconds: number | undefined): void {
    this.seen.set(name, {
      renewedAt: this.now(),
      durationSeconds:
        validDuration(durationSeconds) ??
        this.seen.get(name)?.durationSeconds ??
        DEFAULT_LEASE_DURATION_SECONDS,
    });
  }

  check(name: string, durationSeconds?: number): Liveness {
    const s = this.seen.get(name);
    const duration = s?.durationSeconds ?? validDuration(durationSeconds) ?? DEFAULT_LEASE_DURATION_SECONDS;
    const windowMs = this.opts.windowMs ?? 2 * duration * 1000;
    const silentMs = this.now() - Math.max(s?.renewedAt ?? 0, this.startedAt);
    return silentMs <= windowMs ? { alive: true } : { alive: false, silentMs, windowMs };
  }

  lastRenewal(name: string): number | undefined {
    return this.seen.get(name)?.renewedAt;
  }
}

function validDuration(v: number | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}
