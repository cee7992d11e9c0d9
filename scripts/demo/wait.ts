/**
 * Polls `fn` until `ok` accepts its value; throws after `timeoutMs` with the last value or error,
 * or at once when the demo is told to stop (Ctrl-C), so clean-up never races a running step.
 */
export async function waitUntil<T>(
  signal: AbortSignal,
  what: string,
  fn: () => Promise<T> | T,
  ok: (v: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    signal.throwIfAborted();
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= end) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const why = lastErr instanceof Error ? `; last error: ${lastErr.message}` : '';
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${why}`,
  );
}
