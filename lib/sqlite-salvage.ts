import { existsSync, readFileSync } from 'node:fs';

/**
 * Reads every record still decodable from a damaged SQLite file, page by page, without SQLite:
 * a garbage page or a broken b-tree only costs the rows stored on it, where SQLite itself stops
 * at the first bad page (SQLITE_CORRUPT) or refuses the whole file (a malformed header). Follows
 * the file format (sqlite.org/fileformat2.html): table and index b-tree leaf pages, overflow
 * chains, and the -wal file's committed frames (newest copy of a page wins). Pages on the
 * freelist are skipped while the header can still name them, so deleted rows do not come back.
 */
export type SqlValue = null | number | bigint | string | Buffer;

export interface SalvagedFile {
  /** The page size used (from the header, the -wal, or the best guess when both are unreadable). */
  pageSize: number;
  /** Records of table b-tree leaves, with their rowid (an INTEGER PRIMARY KEY column reads as null). */
  tableRecords: { rowid: number; values: SqlValue[] }[];
  /** Records of index b-tree leaves (the indexed columns, then the rowid). */
  indexRecords: SqlValue[][];
  /** Cells on table leaf pages that could not be decoded (a broken overflow chain, a truncated record). */
  damagedCells: number;
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const PAGE_SIZES = [4096, 1024, 2048, 8192, 16384, 32768, 65536, 512];
const TABLE_LEAF = 0x0d;
const INDEX_LEAF = 0x0a;

export function salvageSqliteFile(path: string): SalvagedFile {
  const main = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
  const walPath = `${path}-wal`;
  const wal = existsSync(walPath) ? readWal(readFileSync(walPath)) : undefined;
  const header = readHeader(main);
  if (header) return salvagePages(main, header.pageSize, header.reserved, wal, true);
  if (wal) return salvagePages(main, wal.pageSize, 0, wal, false);
  // no usable header: the page size that decodes the most records is the file's
  let best: SalvagedFile | undefined;
  for (const size of PAGE_SIZES) {
    const got = salvagePages(main, size, 0, undefined, false);
    const score = got.tableRecords.length + got.indexRecords.length;
    if (!best || score > best.tableRecords.length + best.indexRecords.length) best = got;
  }
  return best!;
}

function readHeader(main: Buffer): { pageSize: number; reserved: number } | undefined {
  if (main.length < 100 || !main.subarray(0, 16).equals(MAGIC)) return undefined;
  const raw = main.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (!PAGE_SIZES.includes(pageSize)) return undefined;
  const reserved = main[20]!;
  if (pageSize - reserved < 480) return undefined;
  return { pageSize, reserved };
}

function salvagePages(
  main: Buffer,
  pageSize: number,
  reserved: number,
  wal: Wal | undefined,
  trustHeader: boolean,
): SalvagedFile {
  const pages = new Map<number, Buffer>();
  for (let i = 0; (i + 1) * pageSize <= main.length; i++) {
    pages.set(i + 1, main.subarray(i * pageSize, (i + 1) * pageSize));
  }
  if (wal && wal.pageSize === pageSize) for (const [no, page] of wal.pages) pages.set(no, page);
  const ctx: Ctx = { pages, usable: pageSize - reserved, damaged: 0 };
  const page1 = pages.get(1);
  const free = trustHeader && page1 ? freelistPages(page1, ctx) : new Set<number>();
  const out: SalvagedFile = { pageSize, tableRecords: [], indexRecords: [], damagedCells: 0 };
  for (const [no, page] of pages) {
    if (free.has(no)) continue;
    const base = no === 1 ? 100 : 0;
    const type = page[base];
    if (type === TABLE_LEAF) readTableLeaf(page, base, ctx, out);
    else if (type === INDEX_LEAF) readIndexLeaf(page, base, ctx, out);
  }
  out.damagedCells = ctx.damaged;
  return out;
}

interface Ctx {
  pages: Map<number, Buffer>;
  usable: number;
  damaged: number;
}

function freelistPages(page1: Buffer, ctx: Ctx): Set<number> {
  const free = new Set<number>();
  let trunk = page1.readUInt32BE(32);
  while (trunk !== 0 && !free.has(trunk)) {
    const page = ctx.pages.get(trunk);
    if (!page) break;
    free.add(trunk);
    const n = page.readUInt32BE(4);
    if (n > (ctx.usable - 8) / 4) break;
    for (let i = 0; i < n; i++) free.add(page.readUInt32BE(8 + 4 * i));
    trunk = page.readUInt32BE(0);
  }
  return free;
}

/** The cell offsets of a leaf page, and how many of its pointers point nowhere. */
function cellPointers(page: Buffer, base: number, ctx: Ctx): { ptrs: number[]; bad: number } {
  const n = page.readUInt16BE(base + 3);
  const first = base + 8 + 2 * n;
  if (first > ctx.usable) return { ptrs: [], bad: 0 };
  const ptrs: number[] = [];
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const ptr = page.readUInt16BE(base + 8 + 2 * i);
    if (ptr < first || ptr >= ctx.usable) bad++;
    else ptrs.push(ptr);
  }
  return { ptrs, bad };
}

function readTableLeaf(page: Buffer, base: number, ctx: Ctx, out: SalvagedFile): void {
  const maxLocal = ctx.usable - 35;
  const { ptrs, bad } = cellPointers(page, base, ctx);
  ctx.damaged += bad;
  for (const ptr of ptrs) {
    const size = varint(page, ptr, ctx.usable);
    const rowid = size && varint(page, ptr + size.len, ctx.usable);
    const payload = rowid && readPayload(page, ptr + size.len + rowid.len, Number(size.value), maxLocal, ctx);
    const values = payload && decodeRecord(payload);
    if (!rowid || !values) {
      ctx.damaged++;
      continue;
    }
    out.tableRecords.push({ rowid: Number(rowid.value), values });
  }
}

function readIndexLeaf(page: Buffer, base: number, ctx: Ctx, out: SalvagedFile): void {
  const maxLocal = Math.floor(((ctx.usable - 12) * 64) / 255) - 23;
  for (const ptr of cellPointers(page, base, ctx).ptrs) {
    const size = varint(page, ptr, ctx.usable);
    const payload = size && readPayload(page, ptr + size.len, Number(size.value), maxLocal, ctx);
    const values = payload && decodeRecord(payload);
    if (values) out.indexRecords.push(values);
  }
}

/** A cell's payload: the local part, then the overflow chain; undefined when any of it is unreadable. */
function readPayload(page: Buffer, at: number, size: number, maxLocal: number, ctx: Ctx): Buffer | undefined {
  const u = ctx.usable;
  if (size > 1 << 30) return undefined;
  let local = size;
  if (size > maxLocal) {
    const min = Math.floor(((u - 12) * 32) / 255) - 23;
    const k = min + ((size - min) % (u - 4));
    local = k <= maxLocal ? k : min;
  }
  if (at + local > u) return undefined;
  if (local === size) return page.subarray(at, at + size);
  if (at + local + 4 > u) return undefined;
  const parts = [page.subarray(at, at + local)];
  let remaining = size - local;
  let next = page.readUInt32BE(at + local);
  const seen = new Set<number>();
  while (remaining > 0) {
    const over = ctx.pages.get(next);
    if (!over || seen.has(next)) return undefined;
    seen.add(next);
    const take = Math.min(remaining, u - 4);
    parts.push(over.subarray(4, 4 + take));
    remaining -= take;
    next = over.readUInt32BE(0);
  }
  return Buffer.concat(parts);
}

/** A record (header of serial types, then the values); undefined unless it fills the payload exactly. */
function decodeRecord(p: Buffer): SqlValue[] | undefined {
  const h = varint(p, 0, p.length);
  if (!h || h.value < BigInt(h.len) || h.value > BigInt(p.length)) return undefined;
  const headerEnd = Number(h.value);
  const types: number[] = [];
  for (let at = h.len; at < headerEnd; ) {
    const t = varint(p, at, headerEnd);
    if (!t) return undefined;
    types.push(Number(t.value));
    at += t.len;
  }
  const values: SqlValue[] = [];
  let at = headerEnd;
  for (const t of types) {
    const n = serialSize(t);
    if (n === undefined || at + n > p.length) return undefined;
    values.push(serialValue(t, p.subarray(at, at + n)));
    at += n;
  }
  return at === p.length ? values : undefined;
}

function serialSize(t: number): number | undefined {
  if (t <= 4) return t;
  if (t === 5) return 6;
  if (t === 6 || t === 7) return 8;
  if (t === 8 || t === 9) return 0;
  if (t >= 12) return Math.floor((t - 12) / 2);
  return undefined;
}

function serialValue(t: number, b: Buffer): SqlValue {
  switch (t) {
    case 0:
      return null;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      return b.readIntBE(0, b.length);
    case 6: {
      const v = b.readBigInt64BE(0);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 7:
      return b.readDoubleBE(0);
    case 8:
      return 0;
    case 9:
      return 1;
    default:
      return t % 2 === 0 ? Buffer.from(b) : b.toString('utf8');
  }
}

/** SQLite's big-endian varint: 7 bits a byte, the ninth byte whole. */
function varint(b: Buffer, at: number, end: number): { value: bigint; len: number } | undefined {
  let v = 0n;
  for (let i = 0; i < 9; i++) {
    if (at + i >= end) return undefined;
    const byte = b[at + i]!;
    if (i === 8) return { value: (v << 8n) | BigInt(byte), len: 9 };
    v = (v << 7n) | BigInt(byte & 0x7f);
    if (byte < 0x80) return { value: v, len: i + 1 };
  }
  return undefined;
}

interface Wal {
  pageSize: number;
  pages: Map<number, Buffer>;
}

/** The pages of the -wal file's committed frames (valid salts and checksum chain), newest last. */
function readWal(w: Buffer): Wal | undefined {
  if (w.length < 32) return undefined;
  const magic = w.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined;
  const bigEndian = (magic & 1) === 1;
  const pageSize = w.readUInt32BE(8);
  if (!PAGE_SIZES.includes(pageSize)) return undefined;
  const salt1 = w.readUInt32BE(16);
  const salt2 = w.readUInt32BE(20);
  let sum = walChecksum(w.subarray(0, 24), bigEndian, [0, 0]);
  if (sum[0] !== w.readUInt32BE(24) || sum[1] !== w.readUInt32BE(28)) return undefined;
  const committed = new Map<number, Buffer>();
  let pending = new Map<number, Buffer>();
  for (let at = 32; at + 24 + pageSize <= w.length; at += 24 + pageSize) {
    if (w.readUInt32BE(at + 8) !== salt1 || w.readUInt32BE(at + 12) !== salt2) break;
    sum = walChecksum(w.subarray(at, at + 8), bigEndian, sum);
    sum = walChecksum(w.subarray(at + 24, at + 24 + pageSize), bigEndian, sum);
    if (sum[0] !== w.readUInt32BE(at + 16) || sum[1] !== w.readUInt32BE(at + 20)) break;
    pending.set(w.readUInt32BE(at), w.subarray(at + 24, at + 24 + pageSize));
    if (w.readUInt32BE(at + 4) !== 0) {
      for (const [no, page] of pending) committed.set(no, page);
      pending = new Map();
    }
  }
  return { pageSize, pages: committed };
}

function walChecksum(data: Buffer, bigEndian: boolean, [a, b]: [number, number]): [number, number] {
  let s0 = a;
  let s1 = b;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}
