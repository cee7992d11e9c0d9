/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus host, which
 * every hop sets for itself: never forwarded, in either direction.
 */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** `name` in lower case. */
export function isHopByHop(name: string): boolean {
  return CONNECTION_HEADERS.has(name);
}

/**
 * A request's headers as they go upstream: connection headers dropped, and so are authorization
 * and content-length, which the upstream pool sets itself (the identity's credentials, the body
 * it sends). Names are lower-cased.
 */
export function upstreamRequestHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [raw, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = raw.toLowerCase();
    if (CONNECTION_HEADERS.has(name) || name === 'authorization' || name === 'content-length') continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}
