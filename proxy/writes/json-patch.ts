import { checkKey, clone, deepEqual, isObject, type Json, PatchError, setOwn } from './json-value.js';

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test) over RFC 6901 pointers. */
export function applyJsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw new PatchError('a JSON patch must be an array of operations', 400);
  let doc = clone(target);
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new PatchError('each JSON patch operation needs a string "op" and "path"', 400);
    }
    const { op, path } = raw;
    switch (op) {
      case 'add':
        doc = put(doc, parsePointer(path), requireValue(raw), 'add');
        break;
      case 'remove':
        doc = remove(doc, parsePointer(path)).doc;
        break;
      case 'replace':
        get(doc, parsePointer(path));
        doc = put(doc, parsePointer(path), requireValue(raw), 'replace');
        break;
      case 'move': {
        const from = fromOf(raw);
        const taken = remove(doc, parsePointer(from));
        doc = put(taken.doc, parsePointer(path), taken.value, 'add');
        break;
      }
      case 'copy':
        doc = put(doc, parsePointer(path), clone(get(doc, parsePointer(fromOf(raw)))), 'add');
        break;
      case 'test':
        if (!deepEqual(get(doc, parsePointer(path)), requireValue(raw))) {
          throw new PatchError(`JSON patch test failed at ${path}`);
        }
        break;
      default:
        throw new PatchError(`unknown JSON patch operation "${op}"`, 400);
    }
  }
  return doc;
}

function requireValue(op: Record<string, Json>): Json {
  if (!Object.hasOwn(op, 'value'))
    throw new PatchError(`JSON patch "${String(op.op)}" at ${String(op.path)} needs a value`, 400);
  return clone(op.value as Json);
}

function fromOf(op: Record<string, Json>): string {
  if (typeof op.from !== 'string')
    throw new PatchError(`JSON patch "${String(op.op)}" needs a string "from"`, 400);
  return op.from;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}"`, 400);
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const t of tokens) checkKey(t, `JSON pointer "${pointer}"`);
  return tokens;
}

function arrayIndex(arr: Json[], token: string, forInsert: boolean): number {
  if (forInsert && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index "${token}"`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length))
    throw new PatchError(`array index ${i} out of range`);
  return i;
}

function get(doc: Json, tokens: string[]): Json {
  let cur: Json = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false)]!;
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]!;
    else throw new PatchError(`path /${tokens.join('/')} does not exist`);
  }
  return cur;
}

function put(doc: Json, tokens: string[], value: Json, mode: 'add' | 'replace'): Json {
  if (tokens.length === 0) return value;
  const parent = get(doc, tokens.slice(0, -1));
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, mode === 'add');
    if (mode === 'add') parent.splice(i, 0, value);
    else parent[i] = value;
  } else if (isObject(parent)) {
    setOwn(parent, last, value);
  } else {
    throw new PatchError(`cannot add to a non-container at /${tokens.join('/')}`);
  }
  return doc;
}

function remove(doc: Json, tokens: string[]): { doc: Json; value: Json } {
  if (tokens.length === 0) throw new PatchError('cannot remove the whole document');
  const parent = get(doc, tokens.slice(0, -1));
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, false);
    const [value] = parent.splice(i, 1);
    return { doc, value: value! };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const value = parent[last]!;
    delete parent[last];
    return { doc, value };
  }
  throw new PatchError(`path /${tokens.join('/')} does not exist`);
}
