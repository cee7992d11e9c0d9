/**
 * CNI error codes (SPEC.md "Error" section, plus libcni's skel conventions) and the error type the
 * plugin throws; the skel turns it into the single JSON object the runtime reads from stdout.
 */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimited: 51,
  /** Plugin-specific (100+): a delegate answered with something that is not a CNI result. */
  DelegateGarbage: 100,
  /** Plugin-specific: CHECK found the runtime's result differs from what was recorded. */
  CheckMismatch: 101,
  /** libcni's code for errors that carry no CNI code. */
  Internal: 999,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
    cause?: unknown,
  ) {
    super(msg, cause === undefined ? undefined : { cause });
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details: string } {
    return { cniVersion, code: this.code, msg: this.message, details: this.details };
  }
}

/** Wraps anything thrown into a CniError; unknown failures keep their message under code 999. */
export function asCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof Error) return new CniError(ErrorCode.Internal, err.message);
  return new CniError(ErrorCode.Internal, String(err));
}
