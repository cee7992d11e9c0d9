/**
 * A small flag parser for the subcommands: `--name value`, `--name=value`, repeatable flags and
 * booleans. Unknown flags are errors, so a typo never silently falls back to a default.
 */
export interface FlagSpec {
  [name: string]: { type: 'string' | 'boolean' | 'strings'; default?: string | boolean | string[] };
}

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

export class UsageError extends Error {}

export function parseFlags(argv: string[], spec: FlagSpec): { flags: ParsedFlags; rest: string[] } {
  const flags: ParsedFlags = {};
  for (const [name, s] of Object.entries(spec)) {
    if (s.default !== undefined) flags[name] = Array.isArray(s.default) ? [...s.default] : s.default;
  }
  const seenRepeatable = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown flag --${name}`);
    if (s.type === 'boolean') {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes true or false, not "${v}"`);
        flags[name] = v === 'true';
      } else flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (s.type === 'strings') {
      if (!seenRepeatable.has(name)) {
        flags[name] = [];
        seenRepeatable.add(name);
      }
      (flags[name] as string[]).push(value);
    } else flags[name] = value;
  }
  return { flags, rest };
}
