/**
 * Label and field selectors, parsed and evaluated the way apimachinery does it. Written for the
 * simulator alone so it stays an independent oracle for the proxy's own selector code.
 */
import { errors } from './status.js';

export type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateKey(key: string): void {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? '' : key.slice(0, slash);
  if (slash !== -1 && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    throw errors.badRequest(
      `unable to parse requirement: invalid label key "${key}": prefix part must be a DNS subdomain`,
    );
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    throw errors.badRequest(
      `unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

function validateValue(key: string, value: string): void {
  if (value === '') return;
  if (value.length > 63 || !QUALIFIED_NAME.test(value)) {
    throw errors.badRequest(
      `unable to parse requirement: invalid label value: "${value}" for key "${key}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

type Token = { kind: 'id'; text: string } | { kind: 'op'; text: string };

const SPECIAL = new Set(['!', '=', '(', ')', ',', '>', '<']);

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (SPECIAL.has(c)) {
      const two = s.slice(i, i + 2);
      if (two === '!=' || two === '==') {
        out.push({ kind: 'op', text: two });
        i += 2;
      } else {
        out.push({ kind: 'op', text: c });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < s.length && !SPECIAL.has(s[j]!) && !' \t\n\r'.includes(s[j]!)) j++;
    out.push({ kind: 'id', text: s.slice(i, j) });
    i = j;
  }
  return out;
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  const toks = tokenize(selector);
  const reqs: LabelRequirement[] = [];
  let p = 0;
  const fail = (why: string): never => {
    throw errors.badRequest(`unable to parse requirement: ${why} in label selector "${selector}"`);
  };
  const peek = () => toks[p];
  const isOp = (t: Token | undefined, text: string) => t?.kind === 'op' && t.text === text;
  if (toks.length === 0) return reqs;
  for (;;) {
    let t = toks[p++];
    if (!t) fail('expected a requirement');
    let negated = false;
    if (isOp(t, '!')) {
      negated = true;
      t = toks[p++];
    }
    if (t?.kind !== 'id') return fail('expected a label key');
    const key = t.text;
    validateKey(key);
    const next = peek();
    if (negated) {
      reqs.push({ key, op: '!exists', values: [] });
    } else if (!next || isOp(next, ',')) {
      reqs.push({ key, op: 'exists', values: [] });
    } else if (next.kind === 'op' && ['=', '==', '!=', '>', '<'].includes(next.text)) {
      p++;
      const v = peek();
      let value = '';
      if (v && v.kind === 'id') {
        value = v.text;
        p++;
      } else if (next.text === '>' || next.text === '<') {
        fail(`expected an integer after "${next.text}"`);
      }
      if (next.text === '>' || next.text === '<') {
        if (!/^-?\d+$/.test(value))
          fail(`for 'Gt', 'Lt' operators, the value must be an integer: "${value}"`);
        reqs.push({ key, op: next.text === '>' ? 'gt' : 'lt', values: [value] });
      } else {
        validateValue(key, value);
        reqs.push({ key, op: next.text === '!=' ? '!=' : '=', values: [value] });
      }
    } else if (next.kind === 'id' && (next.text === 'in' || next.text === 'notin')) {
      p++;
      if (!isOp(toks[p++], '(')) fail(`expected "(" after ${next.text}`);
      const values: string[] = [];
      for (;;) {
        const v = toks[p];
        if (isOp(v, ')')) {
          // "(a,)" and "()" leave an empty value in apimachinery; keep that behaviour.
          if (values.length === 0 || isOp(toks[p - 1], ',')) values.push('');
          p++;
          break;
        }
        if (v?.kind === 'id') {
          validateValue(key, v.text);
          values.push(v.text);
          p++;
          const after = toks[p];
          if (isOp(after, ',')) {
            p++;
            continue;
          }
          if (isOp(after, ')')) {
            p++;
            break;
          }
          fail('expected "," or ")" in a set');
        } else if (isOp(v, ',')) {
          values.push('');
          p++;
        } else {
          fail('unterminated value set');
        }
      }
      reqs.push({ key, op: next.text === 'in' ? 'in' : 'notin', values });
    } else {
      fail(`unexpected "${next.text}" after key "${key}"`);
    }
    const sep = toks[p];
    if (!sep) break;
    if (!isOp(sep, ',')) fail(`expected "," but found "${sep.text}"`);
    p++;
  }
  return reqs;
}

export function matchesLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!exists':
        if (has) return false;
        break;
      case '=':
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case '!=':
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

/** Splits on unescaped `sep`, keeping escapes for the next stage. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(s: string, selector: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const n = s[i + 1];
      if (n !== '\\' && n !== ',' && n !== '=') {
        throw errors.badRequest(`invalid field selector: invalid escape sequence in "${selector}"`);
      }
      out += n;
      i++;
    } else if (c === ',' || c === '=') {
      throw errors.badRequest(`invalid field selector: unescaped "${c}" in value of "${selector}"`);
    } else out += c;
  }
  return out;
}

export function parseFieldSelector(selector: string): FieldRequirement[] {
  if (selector.trim() === '') return [];
  const out: FieldRequirement[] = [];
  for (const term of splitUnescaped(selector, ',')) {
    let idx = -1;
    let op: '=' | '!=' = '=';
    let opLen = 1;
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      if (term.startsWith('!=', i)) {
        idx = i;
        op = '!=';
        opLen = 2;
        break;
      }
      if (term.startsWith('==', i)) {
        idx = i;
        opLen = 2;
        break;
      }
      if (term[i] === '=') {
        idx = i;
        break;
      }
    }
    if (idx <= 0) throw errors.badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    out.push({
      field: term.slice(0, idx).trim(),
      op,
      value: unescapeFieldValue(term.slice(idx + opLen), selector),
    });
  }
  return out;
}

function dig(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** The string value the API server's field set gives a field ('' when absent). */
export function fieldValue(obj: Record<string, unknown>, field: string): string {
  // core/v1 Event's "source" field label is the reporting component.
  const v = field === 'source' ? dig(obj, 'source.component') : dig(obj, field);
  if (v === undefined || v === null) {
    if (field === 'spec.hostNetwork' || field === 'spec.unschedulable') return 'false';
    return '';
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Rejects field labels the resource does not index, with the API server's message. */
export function validateFieldSelector(reqs: FieldRequirement[], allowed: readonly string[]): void {
  for (const r of reqs) {
    if (r.field === 'metadata.name' || r.field === 'metadata.namespace') continue;
    if (!allowed.includes(r.field)) throw errors.badRequest(`field label not supported: ${r.field}`);
  }
}

export function matchesFields(reqs: FieldRequirement[], obj: Record<string, unknown>): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
