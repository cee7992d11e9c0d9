import type { IncomingMessage } from 'node:http';
import {
  type Identity,
  type UpgradeTarget,
  type UpgradeTargets,
  type UpstreamPool,
  type UpstreamRequest,
  UpstreamUnavailableError,
} from '../types.js';
import { ApiServer, parseServerUrl } from './api-server.js';
import { Balancer, type LbMode } from './balancer.js';
import { LinkHealth, type LinkHealthOptions } from './health.js';
import { Transport, type TransportOptions } from './transport.js';

export interface ApiServerPoolOptions
  extends TransportOptions,
    Pick<LinkHealthOptions, 'probeIntervalMs' | 'probeTimeoutMs' | 'linkStatePath'> {
  servers: string[];
  lb: LbMode;
  /** Consecutive failures before a server (and, with the last server, the link) counts as down. */
  offlineAfter: number;
  /** Consecutive successes before it is used again. */
  onlineAfter: number;
}

export interface UpstreamStatus {
  url: string;
  healthy: boolean;
  state: string;
  rttMs: number | undefined;
  requests: number;
  failures: number;
  probes: number;
  probeFailures: number;
  lastError: string;
}

/** Errors that prove the request never reached the server, so any method may be retried elsewhere. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNECT',
]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? '';
}

/**
 * The API servers behind the proxy: picks one per request (priority / round-robin / lowest RTT)
 * and fails over on transport errors. Each outcome feeds the servers' health (health.ts), which
 * also probes them, judges the link (online while any server is usable) and publishes it to the
 * link-state file the CNI plugin reads. Sending is the transport's (transport.ts).
 */
export class ApiServerPool implements UpstreamPool, UpgradeTargets {
  private readonly servers: ApiServer[];
  private readonly balancer: Balancer;
  private readonly transport: Transport;
  private readonly health: LinkHealth;
  private lastUsed: ApiServer;

  constructor(private readonly opts: ApiServerPoolOptions) {
    if (opts.servers.length === 0) throw new Error('at least one upstream server is required');
    this.servers = opts.servers.map(
      (s, i) => new ApiServer(i, parseServerUrl(s), opts.offlineAfter, opts.onlineAfter),
    );
    this.balancer = new Balancer(opts.lb);
    this.lastUsed = this.servers[0]!;
    this.transport = new Transport(opts);
    this.health = new LinkHealth(this.servers, {
      ...opts,
      send: (u, req) => this.transport.send(u, req),
      currentUpstream: () => this.currentUpstream(),
    });
  }

  /** Runs the first probe round (so the link state is known before serving), then probes periodically. */
  start(): Promise<void> {
    return this.health.start();
  }

  async close(): Promise<void> {
    await this.health.close();
    this.transport.destroy();
  }

  isOnline(): boolean {
    return this.health.isOnline();
  }

  onLinkChange(cb: (online: boolean) => void): () => void {
    return this.health.onLinkChange(cb);
  }

  /** Number of online/offline transitions since start (metrics, tests of hysteresis). */
  get transitions(): number {
    return this.health.transitions;
  }

  /** The server requests go to now (the first in balancing order), or the last one used. */
  currentUpstream(): string {
    const first = this.balancer.mode === 'round-robin' ? undefined : this.servers.find((u) => u.healthy);
    return (first ?? this.lastUsed).url.href;
  }

  status(): UpstreamStatus[] {
    return this.servers.map((u) => ({
      url: u.url.href,
      healthy: u.healthy,
      state: u.breaker.state,
      rttMs: u.rttMs,
      requests: u.requests,
      failures: u.failures,
      probes: u.probes,
      probeFailures: u.probeFailures,
      lastError: u.lastError,
    }));
  }

  async request(req: UpstreamRequest): Promise<IncomingMessage> {
    const order = this.balancer.order(this.servers);
    const method = req.method.toUpperCase();
    let lastError: unknown;
    for (const u of order) {
      if (req.signal?.aborted) throw req.signal.reason ?? new Error('aborted');
      try {
        const res = await this.transport.send(u, req);
        u.requests++;
        this.lastUsed = u;
        this.health.recordSuccess(u);
        return res;
      } catch (err) {
        if (req.signal?.aborted) throw err;
        u.failures++;
        u.lastError = (err as Error).message;
        lastError = err;
        this.opts.logger?.warn('upstream request failed', {
          upstream: u.url.href,
          method,
          path: req.path,
          error: (err as Error).message,
        });
        this.health.recordFailure(u);
        const retryable =
          IDEMPOTENT.has(method) ||
          NOT_SENT.has(errorCode(err)) ||
          ((err as { reusedSocket?: boolean }).reusedSocket === true && errorCode(err) === 'ECONNRESET');
        if (!retryable) break;
      }
    }
    throw new UpstreamUnavailableError(
      `no upstream API server answered: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    );
  }

  /** Where an upgrade (exec/attach/port-forward) goes, with the TLS material of the identity. */
  upgradeTarget(identity: Identity): UpgradeTarget {
    return this.transport.upgradeTarget(this.balancer.order(this.servers)[0]!, identity);
  }
}
