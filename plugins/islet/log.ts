/** Logging for the CNI path: stderr only (stdout belongs to the protocol), plus an optional file. */
import { appendFileSync } from 'node:fs';
import { traced } from '../../lib/cni-trace.js';
import { writeFd } from '../cni/stdio.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLogger(level: LogLevel, file: string, context: string): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const emit = (at: LogLevel, msg: string) => {
    if (LOG_LEVELS.indexOf(at) < min) return;
    traced('log', () => write(at, msg));
  };
  const write = (at: LogLevel, msg: string) => {
    const line = `${isoTime(new Date())} islet[${process.pid}] ${at} ${context}: ${msg}\n`;
    try {
      writeFd(2, line);
    } catch {
      // A closed stderr must not fail the CNI call.
    }
    if (file !== '') {
      try {
        appendFileSync(file, line, { mode: 0o600 });
      } catch {
        // A log file we cannot write must never fail the CNI call; stderr still has the line.
      }
    }
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}

/**
 * What Date#toISOString prints (years 0-9999), from the UTC fields: V8's first toISOString call in
 * a process costs ~0.2 ms, the fields a few microseconds, and every CNI call logs once.
 */
export function isoTime(d: Date): string {
  const p = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}
