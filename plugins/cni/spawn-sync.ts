/**
 * Runs a program to completion, synchronously: the delegate exec of a CNI call.
 *
 * Loading node:child_process pulls in net, stream and dgram, ~5 ms of every CNI call's start-up
 * (measured with `node -e` on the project machine), for a single spawnSync. So this goes straight
 * to the `spawn_sync` binding that child_process.spawnSync itself calls (process.binding allows
 * it), passing the options that spawnSync would pass. When the binding is unavailable (a future
 * Node), the public spawnSync runs the same request.
 */
import type { SpawnSyncOptionsWithBufferEncoding } from 'node:child_process';

export interface SyncRun {
  file: string;
  env: NodeJS.ProcessEnv;
  input: string;
  timeoutMs: number;
  maxBuffer: number;
}

export interface SyncExit {
  pid: number;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** errno name (ETIMEDOUT, ENOENT, EPIPE, ENOBUFS...) when the runner reports one. */
  error: string | undefined;
}

interface BindingResult {
  pid?: number;
  status?: number | null;
  signal?: NodeJS.Signals | null;
  output?: (Buffer | null)[] | null;
  error?: number;
}

type SpawnBinding = { spawn(options: Record<string, unknown>): BindingResult };

const SIGKILL = 9;

let binding: SpawnBinding | null | undefined;

function spawnBinding(): SpawnBinding | null {
  if (binding !== undefined) return binding;
  try {
    const b = (process as unknown as { binding(name: string): unknown }).binding('spawn_sync');
    binding = typeof (b as Partial<SpawnBinding>)?.spawn === 'function' ? (b as SpawnBinding) : null;
  } catch {
    binding = null;
  }
  return binding;
}

function envPairs(env: NodeJS.ProcessEnv): string[] {
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) pairs.push(`${k}=${v}`);
  return pairs;
}

/**
 * Runs `file` without arguments in its own session and process group (detached), `input` on its
 * stdin, collecting stdout and stderr. At `timeoutMs` the program is sent SIGKILL and its pipes
 * are closed, so a grandchild holding them cannot keep us waiting.
 */
export function spawnSyncDetached(run: SyncRun): SyncExit {
  const b = spawnBinding();
  if (b) {
    const r = b.spawn({
      file: run.file,
      args: [run.file],
      envPairs: envPairs(run.env),
      stdio: [
        { type: 'pipe', readable: true, writable: false, input: Buffer.from(run.input) },
        { type: 'pipe', readable: false, writable: true },
        { type: 'pipe', readable: false, writable: true },
      ],
      detached: true,
      timeout: run.timeoutMs,
      maxBuffer: run.maxBuffer,
      killSignal: SIGKILL,
      windowsHide: false,
      windowsVerbatimArguments: false,
    });
    const util = process.getBuiltinModule('node:util');
    return {
      pid: r.pid ?? 0,
      status: r.status ?? null,
      signal: r.signal ?? null,
      stdout: r.output?.[1] ?? Buffer.alloc(0),
      stderr: r.output?.[2] ?? Buffer.alloc(0),
      error: typeof r.error === 'number' && r.error !== 0 ? util.getSystemErrorName(r.error) : undefined,
    };
  }
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  // spawnSync honours `detached` (setsid) like spawn does; @types/node just does not list it.
  const options: SpawnSyncOptionsWithBufferEncoding & { detached: boolean } = {
    env: run.env,
    input: run.input,
    detached: true,
    timeout: run.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: run.maxBuffer,
    stdio: ['pipe', 'pipe', 'pipe'],
  };
  const r = spawnSync(run.file, [], options);
  return {
    pid: r.pid,
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? Buffer.alloc(0),
    stderr: r.stderr ?? Buffer.alloc(0),
    error: (r.error as NodeJS.ErrnoException | undefined)?.code,
  };
}
