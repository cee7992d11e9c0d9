/**
 * Jittered exponential back-off for upstream reconnects: one proxy per node times thousands of
 * nodes must not hammer a recovering API server in lock-step, so every delay is spread randomly
 * over its upper half ("equal jitter"), and a server's Retry-After always wins when it is longer.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Source of randomness in [0, 1), for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.baseMs > 0) || !(opts.maxMs >= opts.baseMs)) {
      throw new Error(`back-off needs 0 < baseMs <= maxMs (got ${opts.baseMs}, ${opts.maxMs})`);
    }
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt; each call doubles the ceiling up to maxMs. */
  next(retryAfterMs?: number): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    return Math.round(retryAfterMs !== undefined ? Math.max(delay, retryAfterMs) : delay);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/**
 * Retry-After as an API server sends it: delay-seconds (the usual form) or an HTTP date.
 * Returns milliseconds, capped so a bogus header cannot park a watch for hours.
 */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now = Date.now(),
  capMs = 300_000,
): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const s = v.trim();
  if (/^[0-9]+$/.test(s)) return Math.min(Number(s) * 1000, capMs);
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), capMs);
}
