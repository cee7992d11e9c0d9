/**
 * The order in which upstreams are tried for one request. Healthy ones come first in the mode's
 * order; the others follow in configured order as a last resort (the health view may lag reality,
 * and a request that could succeed must not be refused on a stale judgement).
 */
export type LbMode = 'priority' | 'round-robin' | 'rtt';

export const LB_MODES: readonly LbMode[] = ['priority', 'round-robin', 'rtt'];

export interface Candidate {
  /** Position in the configured list: the priority. */
  index: number;
  healthy: boolean;
  /** Smoothed round-trip time in ms; undefined until measured. */
  rttMs: number | undefined;
}

export class Balancer {
  private next = 0;

  constructor(readonly mode: LbMode) {}

  order<T extends Candidate>(all: readonly T[]): T[] {
    const healthy = all.filter((c) => c.healthy);
    const rest = all.filter((c) => !c.healthy);
    if (this.mode === 'round-robin' && healthy.length > 1) {
      const start = this.next++ % healthy.length;
      return [...healthy.slice(start), ...healthy.slice(0, start), ...rest];
    }
    if (this.mode === 'rtt') {
      // Unmeasured servers sort last among the healthy; ties keep priority order (stable sort).
      healthy.sort((a, b) => (a.rttMs ?? Number.POSITIVE_INFINITY) - (b.rttMs ?? Number.POSITIVE_INFINITY));
    }
    return [...healthy, ...rest];
  }
}
