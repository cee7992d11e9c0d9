/**
 * Runs another plugin (a delegate) the way libcni does: found by type in CNI_PATH, the same
 * environment except the overridden CNI_* variables, the config on stdin, the answer on stdout.
 * Not execa (its import alone costs ~100 ms per CNI call), not even node:child_process (see
 * spawn-sync.ts).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { traced } from '../../lib/cni-trace.js';
import { CniError, ErrorCode } from './errors.js';
import { spawnSyncDetached } from './spawn-sync.js';
import type { Command } from './types.js';

export type DelegateFailureKind = 'cni' | 'timeout' | 'signal' | 'garbage' | 'exit' | 'spawn';

/** A delegate that did not succeed; `code`/`message` are what the runtime should see. */
export class DelegateError extends CniError {
  constructor(
    readonly kind: DelegateFailureKind,
    code: number,
    msg: string,
    details = '',
  ) {
    super(code, msg, details);
    this.name = 'DelegateError';
  }
}

export interface DelegateCall {
  type: string;
  command: Command;
  /** The config the delegate reads on stdin. */
  conf: Record<string, unknown>;
  /** CNI_PATH directories. */
  path: string[];
  /** The caller's environment; CNI_COMMAND and `overrides` replace entries. */
  env: NodeJS.ProcessEnv;
  overrides?: Partial<Record<'CNI_CONTAINERID' | 'CNI_IFNAME' | 'CNI_NETNS' | 'CNI_ARGS', string>>;
  timeoutMs: number;
}

export function findInPath(type: string, path: string[]): string {
  if (type === '' || type.includes('/') || type === '.' || type === '..') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid plugin type "${type}"`);
  }
  for (const dir of path) {
    const file = join(dir, type);
    try {
      // No exception where it is missing (CNI_PATH often lists several directories): they cost.
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not executable by us, or not a directory we can look into
    }
  }
  throw new CniError(
    ErrorCode.InvalidNetworkConfig,
    `failed to find plugin "${type}" in path [${path.join(' ')}] (CNI_PATH)`,
  );
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Synchronous, unlike the rest of the plugin: a CNI call has nothing else to do while its
 * delegate runs, and the synchronous runner needs no stream objects or event-loop turns (~8 ms
 * less per call than spawn). At the timeout the delegate is killed and its pipes closed; it runs
 * in its own process group, which is then killed too (a shell script's `sleep` would otherwise
 * live on, holding stdout).
 */
function run(file: string, stdin: string, env: NodeJS.ProcessEnv, timeoutMs: number): Exit {
  const r = spawnSyncDetached({ file, env, input: stdin, timeoutMs, maxBuffer: MAX_OUTPUT_BYTES });
  const timedOut = r.error === 'ETIMEDOUT';
  if (timedOut && r.pid > 0) {
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      // the whole group is gone already
    }
  }
  // A delegate may exit without reading its stdin (EPIPE): its exit status tells what happened.
  if (r.error !== undefined && !timedOut && r.error !== 'EPIPE') {
    throw Object.assign(new Error(`spawn ${file} ${r.error}`), { code: r.error });
  }
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout.toString('utf8'),
    stderr: r.stderr.toString('utf8'),
    timedOut,
  };
}

/** Far beyond any CNI result; only a runaway delegate reaches it (and is then killed). */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

function tail(text: string, max = 300): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Executes the delegate. Resolves with its parsed stdout (undefined when it printed nothing, as
 * DEL/CHECK/GC/STATUS do); rejects with a DelegateError describing how it failed.
 */
export async function execDelegate(call: DelegateCall): Promise<unknown> {
  const file = findInPath(call.type, call.path);
  const env: NodeJS.ProcessEnv = { ...call.env, ...call.overrides, CNI_COMMAND: call.command };
  let exit: Exit;
  try {
    exit = traced('delegate', () => run(file, JSON.stringify(call.conf), env, call.timeoutMs));
  } catch (err) {
    throw new DelegateError(
      'spawn',
      ErrorCode.Internal,
      `cannot run delegate ${file}: ${(err as Error).message}`,
    );
  }
  const name = call.type;
  if (exit.timedOut) {
    throw new DelegateError(
      'timeout',
      ErrorCode.TryAgainLater,
      `delegate ${name} ${call.command} timed out after ${call.timeoutMs} ms and was killed`,
    );
  }
  if (exit.signal) {
    throw new DelegateError(
      'signal',
      ErrorCode.TryAgainLater,
      `delegate ${name} ${call.command} was killed by ${exit.signal}`,
      tail(exit.stderr),
    );
  }
  const stdout = exit.stdout.trim();
  if (exit.code !== 0) {
    const parsed = parseJson(stdout) as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    if (parsed && typeof parsed === 'object' && typeof parsed.code === 'number') {
      throw new DelegateError(
        'cni',
        parsed.code,
        typeof parsed.msg === 'string' ? parsed.msg : `delegate ${name} failed`,
        typeof parsed.details === 'string' ? parsed.details : '',
      );
    }
    throw new DelegateError(
      'exit',
      ErrorCode.Internal,
      `delegate ${name} ${call.command} exited with status ${exit.code}: ${tail(stdout || exit.stderr) || 'no output'}`,
    );
  }
  if (stdout === '') return undefined;
  const parsed = parseJson(stdout);
  if (parsed === undefined) {
    throw new DelegateError(
      'garbage',
      ErrorCode.DelegateGarbage,
      `delegate ${name} ${call.command} printed output that is not JSON`,
      tail(stdout),
    );
  }
  return parsed;
}
