/**
 * Which nodes are autonomous, and for how long: the one home of the node opt-in. A node says
 * `islet.dev/autonomy-duration: "24h"` (annotation, or label when an annotation is not an option);
 * `0` or `unlimited` means for as long as the outage lasts. Everything else about tolerations is
 * derived from this answer.
 */
import { DurationError, parseDurationNs } from '../lib/duration.js';

export const AUTONOMY_KEY = 'islet.dev/autonomy-duration';

/** `undefined` seconds: tolerate forever (no tolerationSeconds). */
export type Autonomy = { autonomous: false } | { autonomous: true; seconds: number | undefined };

export interface NodeMeta {
  metadata?: { name?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
}

const NS_PER_S = 1_000_000_000n;

/** Parses the opt-in value; throws DurationError on a value Go would refuse. */
export function parseAutonomy(value: string): Autonomy {
  const v = value.trim();
  if (v === 'unlimited' || v === '0') return { autonomous: true, seconds: undefined };
  const ns = parseDurationNs(v);
  if (ns <= 0n) throw new DurationError(`invalid autonomy duration ${JSON.stringify(value)}`);
  // tolerationSeconds is whole seconds; round up so "1500ms" never tolerates less than asked.
  return { autonomous: true, seconds: Number((ns + NS_PER_S - 1n) / NS_PER_S) };
}

/**
 * A node's autonomy. A malformed value counts as not autonomous (the cluster's defaults apply,
 * which is what the operator had before opting in) and is reported through `onInvalid`.
 */
export function nodeAutonomy(
  node: NodeMeta | undefined,
  onInvalid?: (value: string, err: Error) => void,
): Autonomy {
  const value = node?.metadata?.annotations?.[AUTONOMY_KEY] ?? node?.metadata?.labels?.[AUTONOMY_KEY];
  if (value === undefined) return { autonomous: false };
  try {
    return parseAutonomy(value);
  } catch (err) {
    onInvalid?.(value, err as Error);
    return { autonomous: false };
  }
}
