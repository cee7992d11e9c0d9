/**
 * Which addresses the delegate can hand out, read from a host-local-style IPAM section
 * (`ranges`, or the legacy single `subnet`/`rangeStart`/`rangeEnd`, plus runtimeConfig.ipRanges).
 * A snapshot outside them is not valid any more (the node's pod CIDR changed).
 */
import { isIP } from '../cni/ip.js';
import { splitCidr } from '../cni/result.js';

interface RangeSpec {
  subnet?: unknown;
  rangeStart?: unknown;
  rangeEnd?: unknown;
}

type Family = 'ipv4' | 'ipv6';

function family(ip: string): Family | undefined {
  const f = isIP(ip);
  return f === 4 ? 'ipv4' : f === 6 ? 'ipv6' : undefined;
}

/**
 * An address of a known family as a number (32 or 128 bits). Plain arithmetic rather than
 * net.BlockList, whose lazy loading costs a CNI call ~4 ms.
 */
function addressValue(ip: string, fam: Family): bigint {
  if (fam === 'ipv4') return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  let text = ip.split('%')[0]!;
  const dotted = text.lastIndexOf(':');
  if (text.includes('.', dotted)) {
    // An embedded IPv4 tail (::ffff:10.0.0.1) is the last two 16-bit groups.
    const v4 = addressValue(text.slice(dotted + 1), 'ipv4');
    text = `${text.slice(0, dotted + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

export interface AddressRanges {
  contains(ip: string): boolean;
}

function compileRange(r: RangeSpec): AddressRanges | undefined {
  if (typeof r.subnet !== 'string') return undefined;
  let net: string;
  let prefix: number;
  try {
    [net, prefix] = splitCidr(r.subnet);
  } catch {
    return undefined;
  }
  const fam = family(net)!;
  const bits = fam === 'ipv4' ? 32n : 128n;
  const hostBits = bits - BigInt(prefix);
  const subnetLow = (addressValue(net, fam) >> hostBits) << hostBits;
  const subnetHigh = subnetLow + (1n << hostBits) - 1n;
  let low = subnetLow;
  let high = subnetHigh;
  if (typeof r.rangeStart === 'string' || typeof r.rangeEnd === 'string') {
    const start = typeof r.rangeStart === 'string' ? r.rangeStart : net;
    const end = typeof r.rangeEnd === 'string' ? r.rangeEnd : undefined;
    if (family(start) !== fam || (end !== undefined && family(end) !== fam)) return undefined;
    low = addressValue(start, fam);
    high = end === undefined ? (1n << bits) - 1n : addressValue(end, fam);
  }
  return {
    contains(ip: string) {
      if (family(ip) !== fam) return false;
      const v = addressValue(ip, fam);
      return v >= subnetLow && v <= subnetHigh && v >= low && v <= high;
    },
  };
}

/** The delegate's ranges, or undefined when its config does not describe them (not host-local-like). */
export function delegateRanges(
  delegate: Record<string, unknown>,
  runtimeConfig: unknown,
): AddressRanges | undefined {
  const specs: RangeSpec[] = [];
  const collect = (sets: unknown) => {
    if (!Array.isArray(sets)) return;
    for (const set of sets)
      if (Array.isArray(set)) for (const r of set) if (r && typeof r === 'object') specs.push(r);
  };
  collect(delegate.ranges);
  if (typeof delegate.subnet === 'string') specs.push(delegate as RangeSpec);
  if (runtimeConfig && typeof runtimeConfig === 'object')
    collect((runtimeConfig as { ipRanges?: unknown }).ipRanges);
  const compiled = specs.map(compileRange).filter((r): r is AddressRanges => r !== undefined);
  if (compiled.length === 0) return undefined;
  return { contains: (ip) => compiled.some((r) => r.contains(ip)) };
}
