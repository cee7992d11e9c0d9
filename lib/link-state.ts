import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';

/**
 * The only coupling between the proxy and the CNI plugin (design.md §2): the proxy writes this
 * small file atomically; the plugin reads it. A missing, unreadable or stale file means "unknown".
 */
export type LinkState = 'online' | 'offline';

export interface LinkStateFile {
  state: LinkState;
  /** ISO time the state last changed. */
  since: string;
  /** ISO time the proxy last confirmed the state; readers judge staleness by it. */
  checkedAt: string;
  /** The upstream in use (online) or last used (offline). */
  upstream: string;
}

export function writeLinkState(path: string, value: LinkStateFile): void {
  writeFileAtomic(path, `${JSON.stringify(value)}\n`, 0o644);
}

/**
 * Returns the published state, or 'unknown' when the file is missing, malformed, or older than
 * maxAgeMs (a dead proxy must not keep claiming the link is offline, or online).
 */
export function readLinkState(
  path: string,
  maxAgeMs = 60_000,
  now: number = Date.now(),
): LinkState | 'unknown' {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return 'unknown';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'unknown';
  const { state, checkedAt } = parsed as Partial<LinkStateFile>;
  if (state !== 'online' && state !== 'offline') return 'unknown';
  const checked = typeof checkedAt === 'string' ? Date.parse(checkedAt) : Number.NaN;
  if (!Number.isFinite(checked) || now - checked > maxAgeMs || checked - now > maxAgeMs) return 'unknown';
  return state;
}
