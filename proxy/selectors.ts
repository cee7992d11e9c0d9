/**
 * Label and field selectors with the API server's grammar and semantics, evaluated locally so
 * one stored object set serves every client's selectors (design.md §1: many views, one store).
 *
 * Label:  a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a, a>1, a<1   (comma = AND)
 * Field:  f=v, f==v, f!=v on the fields the API server supports for the resource; `\,` `\=` `\\`
 *         escape in values.
 */
import type { Gvr, KubeObject } from './types.js';

export class SelectorError extends Error {
  override name = 'SelectorError';
  readonly code = 400;
}

export type LabelOperator = 'in' | 'notin' | 'exists' | 'doesnotexist' | 'gt' | 'lt';

/** `=`/`==` are normalised to `in` with one value, `!=` to `notin`, as their semantics are equal. */
export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

export interface LabelSelector {
  /** Sorted by key; empty means "everything". */
  requirements: LabelRequirement[];
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
}

// ---------------------------------------------------------------- label selectors

const specialChars = new Set(['=', '!', '(', ')', ',', '>', '<']);

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: '=' | '==' | '!=' | '!' | '(' | ')' | ',' | '>' | '<' }
  | { t: 'end' };

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (specialChars.has(c)) {
      const two = input.slice(i, i + 2);
      if (two === '!=' || two === '==') {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        out.push({ t: 'op', v: c as '=' | '!' | '(' | ')' | ',' | '>' | '<' });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < input.length && !/\s/.test(input[j]!) && !specialChars.has(input[j]!)) j++;
    out.push({ t: 'id', v: input.slice(i, j) });
    i = j;
  }
  out.push({ t: 'end' });
  return out;
}

export function parseLabelSelector(input: string): LabelSelector {
  const toks = lex(input);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const next = (): Token => toks[p++]!;
  const fail = (msg: string): never => {
    throw new SelectorError(`unable to parse requirement: ${msg} (label selector "${input}")`);
  };
  const describe = (tok: Token): string => (tok.t === 'end' ? 'end of string' : `'${tok.v}'`);

  const requirements: LabelRequirement[] = [];
  if (peek().t === 'end') return { requirements };
  for (;;) {
    let tok = next();
    let negated = false;
    if (tok.t === 'op' && tok.v === '!') {
      negated = true;
      tok = next();
    }
    if (tok.t !== 'id' || tok.v === 'in' || tok.v === 'notin')
      fail(`found ${describe(tok)}, expected: identifier`);
    const key = (tok as { v: string }).v;
    validateLabelKey(key);
    if (negated) {
      requirements.push({ key, op: 'doesnotexist', values: [] });
    } else {
      const opTok = peek();
      if (opTok.t === 'end' || (opTok.t === 'op' && opTok.v === ',')) {
        requirements.push({ key, op: 'exists', values: [] });
      } else {
        next();
        if (opTok.t === 'id' && (opTok.v === 'in' || opTok.v === 'notin')) {
          const open = next();
          if (!(open.t === 'op' && open.v === '(')) fail(`found ${describe(open)}, expected: '('`);
          const values: string[] = [];
          // `in (a,,b)` and `in (a,)` carry empty values, as the API server reads them.
          let expectValue = true;
          for (;;) {
            const v = next();
            if (v.t === 'id' && expectValue) {
              values.push(v.v);
              expectValue = false;
            } else if (v.t === 'op' && v.v === ',') {
              if (expectValue) values.push('');
              expectValue = true;
            } else if (v.t === 'op' && v.v === ')') {
              if (expectValue && values.length > 0) values.push('');
              break;
            } else fail(`found ${describe(v)}, expected: ',', ')' or identifier`);
          }
          if (values.length === 0)
            fail(`for 'in', 'notin' operators, values set can't be empty (key ${key})`);
          values.forEach(validateLabelValue);
          requirements.push({ key, op: opTok.v as 'in' | 'notin', values: [...new Set(values)].sort() });
        } else if (opTok.t === 'op' && (opTok.v === '=' || opTok.v === '==' || opTok.v === '!=')) {
          const v = peek();
          let value = '';
          if (v.t === 'id') {
            value = v.v;
            next();
          } else if (!(v.t === 'end' || (v.t === 'op' && v.v === ',')))
            fail(`found ${describe(v)}, expected: identifier`);
          validateLabelValue(value);
          requirements.push({ key, op: opTok.v === '!=' ? 'notin' : 'in', values: [value] });
        } else if (opTok.t === 'op' && (opTok.v === '>' || opTok.v === '<')) {
          const v = next();
          if (v.t !== 'id' || !/^-?\d+$/.test(v.v))
            fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
          requirements.push({ key, op: opTok.v === '>' ? 'gt' : 'lt', values: [(v as { v: string }).v] });
        } else {
          fail(`found ${describe(opTok)}, expected: in, notin, =, ==, !=, gt, lt`);
        }
      }
    }
    const after = next();
    if (after.t === 'end') break;
    if (!(after.t === 'op' && after.v === ',')) fail(`found ${describe(after)}, expected: ','`);
  }
  requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { requirements };
}

const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function validateLabelKey(key: string): void {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? '' : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1 && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix))) {
    throw new SelectorError(
      `invalid label key "${key}": prefix must be a DNS subdomain of at most 253 characters`,
    );
  }
  if (name.length === 0 || name.length > 63 || !qualifiedNamePart.test(name)) {
    throw new SelectorError(
      `invalid label key "${key}": name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
    );
  }
}

function validateLabelValue(value: string): void {
  if (value.length > 63 || !labelValue.test(value)) {
    throw new SelectorError(
      `invalid label value "${value}": must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
    );
  }
}

export function matchesLabelSelector(
  labels: Record<string, string> | undefined,
  sel: LabelSelector,
): boolean {
  for (const r of sel.requirements) if (!matchesRequirement(labels, r)) return false;
  return true;
}

function matchesRequirement(labels: Record<string, string> | undefined, r: LabelRequirement): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const v = has ? labels![r.key]! : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case 'doesnotexist':
      return !has;
    case 'in':
      return has && r.values.includes(v!);
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = BigInt(v!);
      const bound = BigInt(r.values[0]!);
      return r.op === 'gt' ? n > bound : n < bound;
    }
  }
}

/**
 * Whether every object matching `req` also matches `view` (so a complete view's objects, filtered
 * by `req`, answer `req`). Sound but conservative: false when it cannot prove coverage.
 */
export function labelSelectorCovers(view: LabelSelector | string, req: LabelSelector | string): boolean {
  const v = typeof view === 'string' ? parseLabelSelector(view) : view;
  const r = typeof req === 'string' ? parseLabelSelector(req) : req;
  return v.requirements.every((vr) => r.requirements.some((rr) => rr.key === vr.key && implies(rr, vr)));
}

/** Does satisfying `a` guarantee satisfying `b` (same key)? */
function implies(a: LabelRequirement, b: LabelRequirement): boolean {
  const aValues = new Set(a.values);
  switch (b.op) {
    case 'exists':
      return a.op === 'exists' || a.op === 'in' || a.op === 'gt' || a.op === 'lt';
    case 'doesnotexist':
      return a.op === 'doesnotexist';
    case 'in':
      if (a.op === 'in') return a.values.every((x) => b.values.includes(x));
      return false;
    case 'notin':
      if (a.op === 'doesnotexist') return true;
      if (a.op === 'in') return a.values.every((x) => !b.values.includes(x));
      if (a.op === 'notin') return b.values.every((x) => aValues.has(x));
      return false;
    case 'gt':
    case 'lt': {
      const bound = BigInt(b.values[0]!);
      const ok = (x: bigint): boolean => (b.op === 'gt' ? x > bound : x < bound);
      if (a.op === 'in') return a.values.every((x) => /^-?\d+$/.test(x) && ok(BigInt(x)));
      if (a.op === b.op) {
        const ab = BigInt(a.values[0]!);
        return b.op === 'gt' ? ab >= bound : ab <= bound;
      }
      return false;
    }
  }
}

export function formatLabelSelector(sel: LabelSelector): string {
  return sel.requirements
    .map((r) => {
      switch (r.op) {
        case 'exists':
          return r.key;
        case 'doesnotexist':
          return `!${r.key}`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          if (r.values.length === 1) return `${r.key}${r.op === 'in' ? '=' : '!='}${r.values[0]}`;
          return `${r.key} ${r.op} (${r.values.join(',')})`;
      }
    })
    .join(',');
}

// ---------------------------------------------------------------- field selectors

/** Field labels the API server accepts besides metadata.name/metadata.namespace, by group/resource. */
const fieldLabels: Record<string, readonly string[]> = {
  '/pods': [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  '/events': [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  '/secrets': ['type'],
  '/nodes': ['spec.unschedulable'],
  '/namespaces': ['status.phase'],
  '/replicationcontrollers': ['status.replicas'],
  '/services': ['spec.clusterIP', 'spec.type'],
  'apps/replicasets': ['status.replicas'],
  'batch/jobs': ['status.successful'],
  'certificates.k8s.io/certificatesigningrequests': ['spec.signerName'],
};

const commonFields = ['metadata.name', 'metadata.namespace'] as const;

export function supportedFields(gvr: Pick<Gvr, 'group' | 'resource'>): string[] {
  return [...commonFields, ...(fieldLabels[`${gvr.group}/${gvr.resource}`] ?? [])];
}

/** A field's value as the API server's field set renders it ('' when absent). */
export function fieldValue(obj: KubeObject, field: string): string {
  switch (field) {
    case 'metadata.name':
      return obj.metadata?.name ?? '';
    case 'metadata.namespace':
      return obj.metadata?.namespace ?? '';
    case 'source':
      return stringOf(pathValue(obj, ['source', 'component']));
    case 'reportingComponent':
      return stringOf(obj.reportingComponent ?? obj.reportingController);
    case 'spec.hostNetwork':
    case 'spec.unschedulable':
      return String(pathValue(obj, field.split('.')) === true);
    default:
      return stringOf(pathValue(obj, field.split('.')));
  }
}

/** Every supported field of the object's resource with its value (what the store indexes). */
export function fieldValues(obj: KubeObject, gvr: Pick<Gvr, 'group' | 'resource'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of supportedFields(gvr)) out[f] = fieldValue(obj, f);
  return out;
}

function pathValue(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function stringOf(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

/**
 * Parses a field selector; with a resource, also checks each field is one the API server
 * supports for it (else "field label not supported", a 400 upstream as well).
 */
export function parseFieldSelector(input: string, gvr?: Pick<Gvr, 'group' | 'resource'>): FieldSelector {
  const requirements: FieldRequirement[] = [];
  const allowed = gvr ? new Set(supportedFields(gvr)) : undefined;
  for (const term of splitUnescaped(input, ',')) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (!split) throw new SelectorError(`invalid selector: '${input}'; can't understand '${term}'`);
    const field = split.lhs.trim();
    if (field === '')
      throw new SelectorError(`invalid selector: '${input}'; field name is empty in '${term}'`);
    if (allowed && !allowed.has(field)) throw new SelectorError(`field label not supported: ${field}`);
    requirements.push({ field, op: split.op, value: unescapeValue(split.rhs, input) });
  }
  requirements.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : a.op < b.op ? -1 : 1));
  return { requirements };
}

function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function splitTerm(term: string): { lhs: string; op: '=' | '!='; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    if (term.startsWith('!=', i)) return { lhs: term.slice(0, i), op: '!=', rhs: term.slice(i + 2) };
    if (term.startsWith('==', i)) return { lhs: term.slice(0, i), op: '=', rhs: term.slice(i + 2) };
    if (term[i] === '=') return { lhs: term.slice(0, i), op: '=', rhs: term.slice(i + 1) };
  }
  return undefined;
}

function unescapeValue(v: string, input: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\') {
      const n = v[i + 1];
      if (n !== '\\' && n !== ',' && n !== '=') {
        throw new SelectorError(`invalid field selector '${input}': invalid escape sequence in '${v}'`);
      }
      out += n;
      i++;
    } else if (c === ',' || c === '=') {
      throw new SelectorError(`invalid field selector '${input}': unescaped '${c}' in value '${v}'`);
    } else out += c;
  }
  return out;
}

/** Throws a SelectorError (400) when the selector names a field the resource does not support. */
export function matchesFieldSelector(
  obj: KubeObject,
  gvr: Pick<Gvr, 'group' | 'resource'>,
  sel: FieldSelector,
): boolean {
  if (sel.requirements.length === 0) return true;
  const allowed = supportedFields(gvr);
  for (const r of sel.requirements) {
    if (!allowed.includes(r.field)) throw new SelectorError(`field label not supported: ${r.field}`);
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** Like matchesFieldSelector over precomputed field values (the store's index). */
export function matchesFieldValues(values: Record<string, string>, sel: FieldSelector): boolean {
  for (const r of sel.requirements) {
    const v = values[r.field] ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** Whether every object matching `req` also matches `view` (conservative). */
export function fieldSelectorCovers(view: FieldSelector | string, req: FieldSelector | string): boolean {
  const v = typeof view === 'string' ? parseFieldSelector(view) : view;
  const r = typeof req === 'string' ? parseFieldSelector(req) : req;
  return v.requirements.every((vr) =>
    r.requirements.some(
      (rr) =>
        rr.field === vr.field &&
        (vr.op === '='
          ? rr.op === '=' && rr.value === vr.value
          : rr.op === '='
            ? rr.value !== vr.value
            : rr.value === vr.value),
    ),
  );
}
