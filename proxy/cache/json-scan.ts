import type { KubeList, ListEnvelope, ListItem } from '../types.js';

/**
 * Structure-only scans of upstream JSON, for the cache filler.
 *
 * splitJsonList reads a JSON list (`{"kind":…,"metadata":{…},"items":[…]}`) item by item. JSON.parse of a
 * 10,000-pod list builds every item at once (tens of MB that survive long enough to grow V8's
 * young generation for good); here one scan finds the items' byte ranges and each item is parsed
 * only when the store takes it, so at most one is alive at a time. The item texts are upstream's
 * own bytes, which the store keeps as they are.
 */
export interface JsonList {
  envelope: ListEnvelope;
  /** How many items the list has. */
  count: number;
  items(): Iterable<ListItem>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

class Malformed extends Error {}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(b: Buffer, i: number): number {
  while (isSpace(b[i])) i++;
  return i;
}

function expect(b: Buffer, i: number, c: number): void {
  if (b[i] !== c) throw new Malformed();
}

/** Index after the JSON string that opens at `i`. memchr for the quotes: strings are most of the bytes. */
function stringEnd(b: Buffer, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q < 0) throw new Malformed();
    let slashes = 0;
    while (b[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** The object key whose string starts at `i`, and where its value starts. */
function readKey(b: Buffer, i: number): { key: string; value: number } {
  expect(b, i, QUOTE);
  const end = stringEnd(b, i);
  const key = b.toString('utf8', i + 1, end - 1);
  const colon = skipSpace(b, end);
  expect(b, colon, COLON);
  return { key, value: skipSpace(b, colon + 1) };
}

/** Index after the JSON value that starts at `i` (structure only; JSON.parse validates the rest). */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i);
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) {
    let j = i;
    while (j < b.length && b[j] !== COMMA && b[j] !== CLOSE_OBJECT && b[j] !== CLOSE_ARRAY && !isSpace(b[j]))
      j++;
    if (j === i) throw new Malformed();
    return j;
  }
  let depth = 0;
  for (let j = i; j < b.length; j++) {
    const d = b[j];
    if (d === QUOTE) j = stringEnd(b, j) - 1;
    else if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
    else if (d === CLOSE_OBJECT || d === CLOSE_ARRAY) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  throw new Malformed();
}

/**
 * The answer's own metadata.resourceVersion, read from its first bytes (`head` may be a prefix):
 * '' when it is not within them or the bytes are not a JSON object. Nested values are skipped
 * whole, so an item's or an owner's resourceVersion is never taken for the answer's own.
 */
export function peekResourceVersion(head: Buffer): string {
  try {
    let i = skipSpace(head, 0);
    expect(head, i, OPEN_OBJECT);
    i = skipSpace(head, i + 1);
    let inMetadata = false;
    for (;;) {
      const { key, value } = readKey(head, i);
      i = value;
      if (!inMetadata && key === 'metadata' && head[i] === OPEN_OBJECT) {
        inMetadata = true;
        i = skipSpace(head, i + 1);
        continue;
      }
      if (inMetadata && key === 'resourceVersion') {
        if (head[i] !== QUOTE) return '';
        return JSON.parse(head.toString('utf8', i, stringEnd(head, i))) as string;
      }
      i = skipSpace(head, valueEnd(head, i));
      if (head[i] === COMMA) i = skipSpace(head, i + 1);
      // The end of metadata (or of the object) without a resourceVersion.
      else return '';
    }
  } catch (err) {
    if (err instanceof Malformed) return '';
    throw err;
  }
}

/**
 * Splits a JSON list into its envelope and its items' byte ranges; undefined when the body is not
 * a JSON object with an `items` array (the caller then parses it whole and judges it).
 */
export function splitJsonList(body: Buffer): JsonList | undefined {
  try {
    return split(body);
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}

function split(b: Buffer): JsonList {
  let i = skipSpace(b, 0);
  expect(b, i, OPEN_OBJECT);
  i = skipSpace(b, i + 1);
  const ranges: number[] = [];
  let itemsOpen = -1;
  let itemsClose = -1;
  while (b[i] !== CLOSE_OBJECT) {
    const { key, value } = readKey(b, i);
    i = value;
    if (key === 'items' && b[i] === OPEN_ARRAY) {
      if (itemsOpen >= 0) throw new Malformed();
      itemsOpen = i;
      i = skipSpace(b, i + 1);
      while (b[i] !== CLOSE_ARRAY) {
        expect(b, i, OPEN_OBJECT);
        const end = valueEnd(b, i);
        ranges.push(i, end);
        i = skipSpace(b, end);
        if (b[i] === COMMA) i = skipSpace(b, i + 1);
        else expect(b, i, CLOSE_ARRAY);
      }
      itemsClose = i;
      i = skipSpace(b, i + 1);
    } else {
      i = skipSpace(b, valueEnd(b, i));
    }
    if (b[i] === COMMA) i = skipSpace(b, i + 1);
    else expect(b, i, CLOSE_OBJECT);
  }
  if (itemsOpen < 0) throw new Malformed();
  if (skipSpace(b, i + 1) !== b.length) throw new Malformed();
  // The envelope is the body with the items array emptied: small, parsed at once.
  const envelope = JSON.parse(
    `${b.toString('utf8', 0, itemsOpen + 1)}${b.toString('utf8', itemsClose)}`,
  ) as KubeList;
  const { items: _emptied, ...rest } = envelope;
  return {
    envelope: rest,
    count: ranges.length / 2,
    *items() {
      for (let k = 0; k < ranges.length; k += 2) {
        const text = b.toString('utf8', ranges[k], ranges[k + 1]);
        yield { object: JSON.parse(text), text };
      }
    },
  };
}

/**
 * Nesting the proxy takes in a request body. The API server stops at 10,000, but JSON.stringify,
 * structuredClone and the patch code recurse once per level, and Node's stack ends first (at
 * about 2,000 levels for structuredClone): no Kubernetes object comes near 1,000.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Whether the JSON text in `b` nests objects/arrays deeper than `max`, found by one iterative
 * pass over its bytes (strings skipped), so the check itself cannot exhaust the stack.
 */
export function jsonDepthExceeds(b: Buffer, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === QUOTE) {
      const q = stringEndOrLength(b, i);
      i = q - 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return false;
}

/** stringEnd, or the end of the buffer for an unterminated string (JSON.parse judges that). */
function stringEndOrLength(b: Buffer, i: number): number {
  try {
    return stringEnd(b, i);
  } catch (err) {
    if (err instanceof Malformed) return b.length;
    throw err;
  }
}
