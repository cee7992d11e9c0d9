/**
 * JSON-lines logger: one object per line on stderr (stdout stays free for the CNI protocol and
 * for tests that read the proxy's start-up line). Levels filter cheaply before formatting.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line (e.g. {component: 'watch'}). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; default process.stderr. */
  write?: (line: string) => void;
  fields?: LogFields;
  /** Clock, for tests. */
  now?: () => Date;
}

export function parseLogLevel(value: string): LogLevel {
  const v = value.toLowerCase();
  if (v in levelRank) return v as LogLevel;
  throw new Error(`unknown log level "${value}" (use debug, info, warn or error)`);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  return makeLogger(level, write, now, opts.fields ?? {});
}

function makeLogger(
  level: LogLevel,
  write: (line: string) => void,
  now: () => Date,
  base: LogFields,
): Logger {
  const min = levelRank[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (levelRank[lvl] < min) return;
    const record: LogFields = { ts: now().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = serializable(v);
    write(`${safeStringify(record)}\n`);
  };
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    enabled: (lvl) => levelRank[lvl] >= min,
    child: (fields) => makeLogger(level, write, now, { ...base, ...fields }),
  };
}

/** Errors lose their message under JSON.stringify; keep what an operator needs. */
function serializable(v: unknown): unknown {
  if (v instanceof Error) {
    const out: LogFields = { name: v.name, message: v.message };
    const code = (v as NodeJS.ErrnoException).code;
    if (code) out.code = code;
    return out;
  }
  return v;
}

function safeStringify(record: LogFields): string {
  try {
    return JSON.stringify(record);
  } catch {
    // A circular or BigInt field must not take the process down with it.
    return JSON.stringify({
      ts: record.ts,
      level: record.level,
      msg: record.msg,
      logError: 'unserializable fields',
    });
  }
}
