/**
 * The real process's side of the skel: stdin, stdout/stderr and env, without instantiating
 * process.stdin/stdout (each would load the stream stack, tty or net for a one-shot CNI call).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { CniError, ErrorCode } from './errors.js';
import type { SkelIo } from './skel.js';

/** The process's own stdin/stdout/env. */
export function processIo(): SkelIo {
  let cached: Buffer | undefined;
  return {
    env: process.env,
    // fstat instead of tty.isatty/process.stdin (each loads modules a CNI call does not need): a
    // character device is a terminal or /dev/null, neither carries a request.
    stdinIsPiped: !isCharacterDevice(0),
    readStdin() {
      if (cached) return cached;
      try {
        // As text: Node reads a whole descriptor to a UTF-8 string in one native call, where the
        // Buffer form runs a JavaScript read loop (~0.2 ms more on a CNI call). A request is JSON
        // text; invalid UTF-8 decodes to U+FFFD either way.
        cached = Buffer.from(readFileSync(0, 'utf8'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A closed stdin is an empty one; anything else is an I/O failure the runtime should see.
        if (code === 'EBADF' || code === 'EINVAL') cached = Buffer.alloc(0);
        else throw new CniError(ErrorCode.IoFailure, `error reading from stdin: ${(err as Error).message}`);
      }
      return cached;
    },
    readVersionRequest() {
      return readBriefly(VERSION_STDIN_WAIT_MS);
    },
    writeStdout(text: string) {
      writeFd(1, text);
    },
  };
}

function isCharacterDevice(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return true;
  }
}

/**
 * Synchronous write to fd 1/2 without instantiating process.stdout (a stream stack per call);
 * falls back to the stream if the descriptor is non-blocking and full.
 */
export function writeFd(fd: 1 | 2, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    (fd === 1 ? process.stdout : process.stderr).write(buf.subarray(off));
  }
}

/** libcni writes the VERSION request at once; a caller that never closes stdin must not hang us. */
const VERSION_STDIN_WAIT_MS = 200;

/**
 * Reads stdin until EOF, a complete JSON object, or `ms`. A pipe (what runtimes give) is read
 * synchronously through a non-blocking descriptor of its own, polled: process.stdin would load
 * the stream stack (~6 ms of start-up), and a blocking fs.read left pending in the thread pool
 * would keep the process from exiting. Anything else (a socket) goes through process.stdin.
 */
function readBriefly(ms: number): Promise<Buffer> {
  let isFile = false;
  try {
    isFile = fstatSync(0).isFile();
  } catch {
    return Promise.resolve(Buffer.alloc(0));
  }
  if (isFile) return Promise.resolve(readFileSync(0));
  let fd: number;
  try {
    fd = openSync('/proc/self/fd/0', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return readStreamBriefly(ms);
  }
  try {
    return Promise.resolve(pollBriefly(fd, ms));
  } finally {
    closeSync(fd);
  }
}

function pollBriefly(fd: number, ms: number): Buffer {
  const deadline = Date.now() + ms;
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(64 * 1024);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() >= deadline) break;
      Atomics.wait(pause, 0, 0, 2);
      continue;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    if (isCompleteJson(chunks)) break;
  }
  return Buffer.concat(chunks);
}

/** A complete JSON object is all VERSION can use; no need to wait for EOF once we have one. */
function isCompleteJson(chunks: Buffer[]): boolean {
  try {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function readStreamBriefly(ms: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const stdin = process.stdin;
    const done = () => {
      clearTimeout(timer);
      stdin.removeAllListeners('data');
      stdin.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, ms);
    stdin.on('data', (b: Buffer) => {
      chunks.push(b);
      if (isCompleteJson(chunks)) done();
    });
    stdin.once('end', done);
    stdin.once('error', done);
  });
}
