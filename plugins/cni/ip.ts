/**
 * IP address syntax, as node:net's isIP judges it. Its own module because importing node:net for
 * isIP loads the socket and stream stack, ~3 ms of every CNI call's start-up.
 */

const V4_PART = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9a-zA-Z\-.:]+$/;

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => V4_PART.test(p));
}

export function isIPv6(s: string): boolean {
  const percent = s.indexOf('%');
  let text = s;
  if (percent !== -1) {
    if (!ZONE.test(s.slice(percent + 1))) return false;
    text = s.slice(0, percent);
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  const last = groups[groups.length - 1]!;
  let count = 0;
  for (const g of groups) {
    for (const [i, part] of g.entries()) {
      // An embedded IPv4 address may only end the address, and counts as two groups.
      if (g === last && i === g.length - 1 && part.includes('.')) {
        if (!isIPv4(part)) return false;
        count += 2;
      } else if (V6_GROUP.test(part)) count += 1;
      else return false;
    }
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** 4, 6, or 0 when `s` is not an address (node:net's isIP contract). */
export function isIP(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  if (isIPv6(s)) return 6;
  return 0;
}
