/**
 * One upstream's health with hysteresis: it stops being used after `openAfter` consecutive
 * failures and is re-admitted after `closeAfter` consecutive successes, so one lost probe does not
 * fail a server over and one lucky probe does not bring a dying one back. The very first
 * observation decides directly (at start-up there is no history to be sticky about), and so does
 * the first success ever: failures before the server ever answered are no server that was seen
 * going down, only one not seen yet (a first probe slower than its timeout on a loaded node, an
 * API server still starting), and keeping it out would answer every read from an empty cache.
 */
export type BreakerState = 'unknown' | 'closed' | 'open';

export class Breaker {
  state: BreakerState = 'unknown';
  /** The server has answered at least once. */
  answered = false;
  private failures = 0;
  private successes = 0;

  constructor(
    private readonly openAfter: number,
    private readonly closeAfter: number,
  ) {
    if (!Number.isInteger(openAfter) || openAfter < 1) throw new Error('openAfter must be an integer >= 1');
    if (!Number.isInteger(closeAfter) || closeAfter < 1)
      throw new Error('closeAfter must be an integer >= 1');
  }

  /** Usable for requests (closed circuit). */
  get healthy(): boolean {
    return this.state === 'closed';
  }

  /** Records a success; returns true when the state changed. */
  success(): boolean {
    this.failures = 0;
    this.successes++;
    const first = !this.answered;
    this.answered = true;
    if (this.state === 'closed') return false;
    if (first || this.successes >= this.closeAfter) {
      this.state = 'closed';
      return true;
    }
    return false;
  }

  /** Records a failure; returns true when the state changed. */
  failure(): boolean {
    this.successes = 0;
    this.failures++;
    if (this.state === 'open') return false;
    if (this.state === 'unknown' || this.failures >= this.openAfter) {
      this.state = 'open';
      return true;
    }
    return false;
  }
}
