/**
 * The real process's side of the skel: stdin, stdout/stderr and env, without instantiating
 * process.stdin/stdout (each would load the stream stack, tty or net for a one-shot CNI call).
 */
import { fstatSync, read, readFileSync, writeSync } from 'node:fs';
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
        cached = readFileSync(0);
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
 * Reads stdin until EOF, a complete JSON object, or `ms`. fs.read rather than process.stdin: the
 * stream stack (net, stream) costs VERSION ~6 ms of start-up. A read still pending after the
 * timeout keeps the event loop alive, so the CNI entry exits explicitly once it has answered.
 */
function readBriefly(ms: number): Promise<Buffer> {
  let isFile = false;
  try {
    isFile = fstatSync(0).isFile();
  } catch {
    return Promise.resolve(Buffer.alloc(0));
  }
  if (isFile) return Promise.resolve(readFileSync(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, ms);
    const next = () => {
      const buf = Buffer.allocUnsafe(64 * 1024);
      read(0, buf, 0, buf.length, null, (err, n) => {
        if (finished) return;
        // A non-blocking stdin has nothing yet: look again shortly (the timer still bounds us).
        if (err?.code === 'EAGAIN') return void setTimeout(next, 2);
        if (err || n === 0) return done();
        chunks.push(buf.subarray(0, n));
        // A complete JSON object is all VERSION can use; do not wait for EOF once we have one.
        try {
          JSON.parse(Buffer.concat(chunks).toString('utf8'));
          return done();
        } catch {
          next();
        }
      });
    };
    next();
  });
}
