/**
 * Sorting delegate failures: only transient ones may be answered by replaying a snapshot.
 * Configuration errors and range exhaustion never are (replaying would hide a real problem).
 */
import { DelegateError } from '../cni/delegate.js';
import { CniError, ErrorCode } from '../cni/errors.js';

export type FailureClass = 'transient' | 'config' | 'exhausted' | 'conflict' | 'unfit' | 'other';

const CONFIG_CODES = new Set<number>([
  ErrorCode.IncompatibleVersion,
  ErrorCode.UnsupportedField,
  ErrorCode.InvalidEnvironment,
  ErrorCode.DecodingFailure,
  ErrorCode.InvalidNetworkConfig,
]);

const EXHAUSTED = /no IP addresses available/i;
/** host-local: the requested address is reserved by someone (possibly this pod's older sandbox). */
const CONFLICT = /requested IP address \S+ is not available|has been allocated to .*duplicate allocation/i;
/** host-local: the requested address is in none of its ranges, or is the gateway. */
const UNFIT = /failed to allocate all requested IPs|not in range set|is subnet's gateway/i;
const TRANSIENT =
  /connection refused|i\/o timeout|no route to host|unreachable|timed? ?out|temporarily unavailable|try again|read-only file system|permission denied|EROFS|EACCES|EAGAIN|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/i;

/**
 * `linkOffline`: the proxy reports the cloud unreachable, so a delegate error we cannot place is
 * more likely the outage than a real fault.
 */
export function classifyFailure(err: unknown, linkOffline: boolean): FailureClass {
  if (err instanceof DelegateError) {
    if (err.kind === 'timeout' || err.kind === 'signal' || err.kind === 'spawn') return 'transient';
    if (err.kind === 'garbage') return 'other';
    if (err.kind === 'cni' && CONFIG_CODES.has(err.code)) return 'config';
    if (err.code === ErrorCode.TryAgainLater) return 'transient';
    const text = `${err.message} ${err.details}`;
    if (EXHAUSTED.test(text)) return 'exhausted';
    if (CONFLICT.test(text)) return 'conflict';
    if (UNFIT.test(text)) return 'unfit';
    if (TRANSIENT.test(text)) return 'transient';
    return linkOffline ? 'transient' : 'other';
  }
  if (err instanceof CniError && err.code === ErrorCode.InvalidNetworkConfig) return 'config';
  return 'other';
}
