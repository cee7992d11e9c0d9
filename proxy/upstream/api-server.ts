/**
 * One API server behind the proxy: where it is (URL, base path, TLS server name) and what the pool
 * knows of it (its breaker, smoothed probe RTT, counters for /metrics and `islet doctor`).
 */
import { isIP } from 'node:net';
import { Breaker } from './breaker.js';

export class ApiServer {
  readonly breaker: Breaker;
  rttMs: number | undefined;
  requests = 0;
  failures = 0;
  probes = 0;
  probeFailures = 0;
  lastError = '';
  readonly basePath: string;
  readonly secure: boolean;
  /** TLS server name: the host, '' for an IP address (no SNI). Computed once, not per request. */
  readonly servername: string;

  constructor(
    readonly index: number,
    readonly url: URL,
    openAfter: number,
    closeAfter: number,
  ) {
    this.breaker = new Breaker(openAfter, closeAfter);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.servername = isIP(host) ? '' : host;
  }

  get healthy(): boolean {
    return this.breaker.healthy;
  }

  /** The port to connect to: the URL's, or the scheme's default. */
  get port(): number {
    return Number(this.url.port || (this.secure ? 443 : 80));
  }

  observeRtt(ms: number): void {
    // Smoothed so one slow probe does not reorder servers in rtt mode.
    this.rttMs = this.rttMs === undefined ? ms : this.rttMs * 0.7 + ms * 0.3;
  }
}

export function parseServerUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`invalid upstream server URL "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`upstream server "${raw}" must be an http:// or https:// URL`);
  }
  if (url.search || url.hash) throw new Error(`upstream server "${raw}" must not have a query or fragment`);
  return url;
}
