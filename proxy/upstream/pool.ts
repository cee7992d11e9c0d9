import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { writeLinkState } from '../../lib/link-state.js';
import { upstreamRequestHeaders } from '../hop-by-hop.js';
import type { Logger } from '../log.js';
import {
  type Identity,
  type UpgradeTarget,
  type UpgradeTargets,
  type UpstreamPool,
  type UpstreamRequest,
  UpstreamUnavailableError,
} from '../types.js';
import { Balancer, type LbMode } from './balancer.js';
import { Breaker } from './breaker.js';
import type { ClientCertSource } from './client-cert.js';

/**
 * The API servers behind the proxy: picks one per request (priority / round-robin / lowest RTT),
 * fails over on transport errors, judges each server's health (passive errors + active /readyz
 * probes, with hysteresis) and from that the link: online while any server is usable. The link
 * state is published to the link-state file the CNI plugin reads, refreshed on every probe round.
 */
export interface ApiServerPoolOptions {
  servers: string[];
  /** CA bundle (PEM) that signs the servers' certificates; system roots when absent. */
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  /** The node's client certificate (node identity); re-read on change. */
  clientCert?: ClientCertSource;
  /** Bearer token for the node identity when it has no client certificate. */
  nodeToken?: () => string | undefined;
  lb: LbMode;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Consecutive failures before a server (and, with the last server, the link) counts as down. */
  offlineAfter: number;
  /** Consecutive successes before it is used again. */
  onlineAfter: number;
  /** Default connect + response-head timeout of a request. */
  requestTimeoutMs: number;
  linkStatePath?: string;
  logger?: Logger;
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

interface AgentEntry {
  agent: http.Agent;
  generation: number;
}

class Upstream {
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

  observeRtt(ms: number): void {
    // Smoothed so one slow probe does not reorder servers in rtt mode.
    this.rttMs = this.rttMs === undefined ? ms : this.rttMs * 0.7 + ms * 0.3;
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? '';
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

export class ApiServerPool implements UpstreamPool, UpgradeTargets {
  private readonly upstreams: Upstream[];
  private readonly balancer: Balancer;
  private readonly agents = new Map<string, AgentEntry>();
  private readonly listeners = new Set<(online: boolean) => void>();
  private online: boolean | undefined;
  private since = new Date();
  private lastUsed: Upstream;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private closed = false;
  private linkTransitions = 0;

  constructor(private readonly opts: ApiServerPoolOptions) {
    if (opts.servers.length === 0) throw new Error('at least one upstream server is required');
    this.upstreams = opts.servers.map(
      (s, i) => new Upstream(i, parseServerUrl(s), opts.offlineAfter, opts.onlineAfter),
    );
    this.balancer = new Balancer(opts.lb);
    this.lastUsed = this.upstreams[0]!;
  }

  /** Runs the first probe round (so the link state is known before serving), then probes periodically. */
  async start(): Promise<void> {
    await this.probeRound();
    this.scheduleProbe();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    await this.probing;
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  isOnline(): boolean {
    return this.online === true;
  }

  onLinkChange(cb: (online: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Number of online/offline transitions since start (metrics, tests of hysteresis). */
  get transitions(): number {
    return this.linkTransitions;
  }

  /** The server requests go to now (the first in balancing order), or the last one used. */
  currentUpstream(): string {
    const first = this.balancer.mode === 'round-robin' ? undefined : this.upstreams.find((u) => u.healthy);
    return (first ?? this.lastUsed).url.href;
  }

  status(): UpstreamStatus[] {
    return this.upstreams.map((u) => ({
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
    const order = this.balancer.order(this.upstreams);
    const method = req.method.toUpperCase();
    let lastError: unknown;
    for (const u of order) {
      if (req.signal?.aborted) throw req.signal.reason ?? new Error('aborted');
      try {
        const res = await this.send(u, req);
        u.requests++;
        this.lastUsed = u;
        this.recordSuccess(u);
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
        this.recordFailure(u);
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
    const u = this.balancer.order(this.upstreams)[0]!;
    const headers: Record<string, string> = { host: u.url.host };
    let cert: Buffer | undefined;
    let key: Buffer | undefined;
    if (identity.kind === 'token') headers.authorization = identity.authorization;
    else {
      const m = this.opts.clientCert?.current();
      cert = m?.cert;
      key = m?.key;
      const token = this.opts.nodeToken?.();
      if (token) headers.authorization = `Bearer ${token}`;
    }
    return {
      url: u.url.href,
      target: {
        protocol: u.url.protocol,
        host: u.url.hostname,
        hostname: u.url.hostname,
        port: Number(u.url.port || (u.secure ? 443 : 80)),
        path: u.basePath,
        ...(this.opts.ca ? { ca: this.opts.ca } : {}),
        ...(cert && key ? { cert, key } : {}),
      },
      secure: !this.opts.insecureSkipTlsVerify,
      headers,
    };
  }

  private agentFor(u: Upstream, identity: Identity): http.Agent {
    const material = identity.kind === 'node' ? this.opts.clientCert?.current() : undefined;
    const generation = material?.generation ?? 0;
    const key = `${u.index}:${identity.kind}`;
    const existing = this.agents.get(key);
    if (existing && existing.generation === generation) return existing.agent;
    if (existing) {
      // New connections must present the rotated certificate; idle keep-alive sockets would
      // otherwise carry the old one indefinitely. Busy sockets (open watches) finish on their own.
      for (const list of Object.values(existing.agent.freeSockets)) for (const s of list ?? []) s.destroy();
      this.opts.logger?.info('client certificate rotated: new upstream connections use it', {
        upstream: u.url.href,
        generation,
      });
    }
    const common = {
      keepAlive: true,
      keepAliveMsecs: 15_000,
      maxFreeSockets: 64,
      scheduling: 'lifo' as const,
    };
    // One secure context per agent: not a CA and key parse per new connection, and the agent's
    // per-request name (built from its options) need not stringify PEM buffers every time.
    const agent = u.secure
      ? new https.Agent({
          ...common,
          secureContext: createSecureContext({
            ...(this.opts.ca ? { ca: this.opts.ca } : {}),
            ...(material ? { cert: material.cert, key: material.key } : {}),
          }),
          servername: u.servername,
          rejectUnauthorized: !this.opts.insecureSkipTlsVerify,
        })
      : new http.Agent(common);
    this.agents.set(key, { agent, generation });
    return agent;
  }

  private outgoingHeaders(u: Upstream, req: UpstreamRequest): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = req.headers ? upstreamRequestHeaders(req.headers) : {};
    headers.host = u.url.host;
    if (req.identity.kind === 'token') headers.authorization = req.identity.authorization;
    else {
      const token = this.opts.nodeToken?.();
      if (token) headers.authorization = `Bearer ${token}`;
    }
    if (req.body) headers['content-length'] = String(req.body.length);
    return headers;
  }

  private send(u: Upstream, req: UpstreamRequest): Promise<IncomingMessage> {
    const timeoutMs = req.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const mod = u.secure ? https : http;
      const outgoing = mod.request({
        protocol: u.url.protocol,
        hostname: u.url.hostname,
        port: u.url.port || (u.secure ? 443 : 80),
        method: req.method.toUpperCase(),
        path: u.basePath + req.path,
        headers: this.outgoingHeaders(u, req),
        agent: this.agentFor(u, req.identity),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`no response from ${u.url.host} within ${timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
        outgoing.destroy(err);
      }, timeoutMs);
      outgoing.once('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      outgoing.once('error', (err) => {
        clearTimeout(timer);
        Object.assign(err, { reusedSocket: outgoing.reusedSocket });
        reject(err);
      });
      outgoing.end(req.body);
    });
  }

  private recordSuccess(u: Upstream): void {
    if (u.breaker.success()) {
      this.opts.logger?.info('upstream healthy', { upstream: u.url.href });
      this.updateLink();
    }
  }

  private recordFailure(u: Upstream): void {
    if (u.breaker.failure()) {
      this.opts.logger?.warn('upstream unhealthy', { upstream: u.url.href, error: u.lastError });
      this.updateLink();
    }
  }

  private updateLink(): void {
    if (this.upstreams.some((u) => u.breaker.state === 'unknown')) return;
    const online = this.upstreams.some((u) => u.healthy);
    if (online === this.online) return;
    const first = this.online === undefined;
    this.online = online;
    this.since = new Date();
    if (!first) this.linkTransitions++;
    this.opts.logger?.info(online ? 'link online' : 'link offline', { upstream: this.currentUpstream() });
    this.publish();
    for (const cb of this.listeners) {
      try {
        cb(online);
      } catch (err) {
        this.opts.logger?.error('link listener failed', { error: (err as Error).message });
      }
    }
  }

  private publish(): void {
    if (!this.opts.linkStatePath || this.online === undefined) return;
    try {
      writeLinkState(this.opts.linkStatePath, {
        state: this.online ? 'online' : 'offline',
        since: this.since.toISOString(),
        checkedAt: new Date().toISOString(),
        upstream: this.currentUpstream(),
      });
    } catch (err) {
      this.opts.logger?.error('cannot write link-state file', {
        path: this.opts.linkStatePath,
        error: (err as Error).message,
      });
    }
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probing = this.probeRound().finally(() => {
        this.probing = undefined;
        this.scheduleProbe();
      });
    }, this.opts.probeIntervalMs);
    this.probeTimer.unref();
  }

  private async probeRound(): Promise<void> {
    await Promise.all(this.upstreams.map((u) => this.probe(u)));
    this.updateLink();
    // Refresh checkedAt every round: readers treat a stale file as "unknown".
    this.publish();
  }

  private async probe(u: Upstream): Promise<void> {
    const started = process.hrtime.bigint();
    u.probes++;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`probe timed out after ${this.opts.probeTimeoutMs} ms`)),
      this.opts.probeTimeoutMs,
    );
    try {
      const res = await this.send(u, {
        method: 'GET',
        path: '/readyz',
        headers: { accept: 'text/plain' },
        identity: { kind: 'node', id: 'node' },
        signal: controller.signal,
        timeoutMs: this.opts.probeTimeoutMs,
      });
      res.resume();
      // Any answer short of a server error proves the server is there (401/403 included).
      if (res.statusCode === undefined || res.statusCode >= 500) {
        throw new Error(`probe answered ${res.statusCode}`);
      }
      await new Promise<void>((resolve) => {
        res.once('end', resolve);
        res.once('error', () => resolve());
        res.once('close', resolve);
      });
      u.observeRtt(Number(process.hrtime.bigint() - started) / 1e6);
      if (u.breaker.success()) this.opts.logger?.info('upstream healthy', { upstream: u.url.href });
    } catch (err) {
      u.probeFailures++;
      u.lastError = (err as Error).message || String(err);
      if (u.breaker.failure()) {
        this.opts.logger?.warn('upstream unhealthy', { upstream: u.url.href, error: u.lastError });
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
