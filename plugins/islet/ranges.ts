/**
 * Which addresses the delegate can hand out, read from a host-local-style IPAM section
 * (`ranges`, or the legacy single `subnet`/`rangeStart`/`rangeEnd`, plus runtimeConfig.ipRanges).
 * A snapshot outside them is not valid any more (the node's pod CIDR changed).
 */
import { BlockList, isIP } from 'node:net';
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
  const subnet = new BlockList();
  subnet.addSubnet(net, prefix, fam);
  let span: BlockList | undefined;
  if (typeof r.rangeStart === 'string' || typeof r.rangeEnd === 'string') {
    span = new BlockList();
    const start = typeof r.rangeStart === 'string' ? r.rangeStart : net;
    const end =
      typeof r.rangeEnd === 'string'
        ? r.rangeEnd
        : fam === 'ipv4'
          ? '255.255.255.255'
          : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    if (family(start) !== fam || family(end) !== fam) return undefined;
    span.addRange(start, end, fam);
  }
  return {
    contains(ip: string) {
      const f = family(ip);
      if (f !== fam) return false;
      return subnet.check(ip, f) && (span ? span.check(ip, f) : true);
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
