import type { ChildProcess } from 'node:child_process';

/** The line a `dist/islet` server logs once it serves: its addresses. */
export interface ListeningRecord {
  msg: 'listening';
  listen?: string;
  admin?: string;
  https?: string;
}

/**
 * Follows a `dist/islet` server process (proxy, webhook) as it starts: it logs JSON lines on
 * stderr, and {"msg":"listening",...} once it serves. Every line goes into `logs` (echoed as
 * `[name] line` with ISLET_TEST_VERBOSE), for as long as the process runs. Resolves with the
 * listening record; rejects with the log so far when the process exits first or `timeoutMs` passes.
 */
export function untilListening(
  proc: ChildProcess,
  name: string,
  logs: string[],
  timeoutMs: number,
): Promise<ListeningRecord> {
  let pending = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start:\n${logs.join('\n')}`)),
      timeoutMs,
    );
    proc.stderr!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (process.env.ISLET_TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
        try {
          const rec = JSON.parse(line) as { msg?: string };
          if (rec.msg === 'listening') {
            clearTimeout(timer);
            resolve(rec as ListeningRecord);
          }
        } catch {
          // not a JSON line (e.g. a usage message)
        }
      }
    });
    proc.stdout!.resume();
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${logs.join('\n')}${pending}`));
    });
  });
}
