/**
 * Hands memory back after shared watches were released. What a released key held (its log, its
 * index, its upstream stream's buffers) is garbage at once, but an idle proxy allocates nothing,
 * so V8 never collects it and RSS stays at the peak: measured with scripts/bench/watch-memory.ts,
 * 300 released keys left a 73 MB heap and 211 MB RSS, one full collection 9 MB and 125 MB. One
 * collection shortly after the last release of a burst brings it down.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** V8's gc(), made available without --expose-gc (the binary starts without flags). */
function gc(): (() => void) | undefined {
  if (!collect) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = () => {};
    }
  }
  return collect;
}

export class Reclaimer {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;

  /** `quietMs`: wait for releases to stop; `minIntervalMs`: at most one collection this often. */
  constructor(
    private readonly quietMs = 1000,
    private readonly minIntervalMs = 30_000,
  ) {}

  /** A key was released: collect once the releases have stopped for a moment. */
  released(): void {
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(this.quietMs, this.last + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      gc()?.();
    }, wait);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
