/**
 * Health of the API servers and, from it, the link: one breaker per server fed by passive
 * failures (the pool's requests) and active /readyz probes alike, with hysteresis; the link is
 * online while any breaker is closed. Every transition is told to the listeners and published to
 * the link-state file the CNI plugin reads, which each probe round refreshes (readers treat a
 * stale file as "unknown").
 */
import type { IncomingMessage } from 'node:http';
import { writeLinkState } from '../../lib/link-state.js';
import type { Logger } from '../log.js';
import type { UpstreamRequest } from '../types.js';
import type { ApiServer } from './api-server.js';

export interface LinkHealthOptions {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  linkStatePath?: string;
  logger?: Logger;
  /** Sends a probe to one server (the pool's transport). */
  send: (u: ApiServer, req: UpstreamRequest) => Promise<IncomingMessage>;
  /** The server requests go to now, as the link-state file names it. */
  currentUpstream: () => string;
}

/**
 * Until the link is first online, probe rounds follow each other after this delay, doubled each
 * round up to the probe interval: a first probe that failed only because the node was busy
 * starting is retried at once, while a node rebooted offline soon probes at the usual pace.
 */
const FIRST_ONLINE_PROBE_MS = 250;

export class LinkHealth {
  private readonly listeners = new Set<(online: boolean) => void>();
  private online: boolean | undefined;
  /** The link has been online since start. */
  private wasOnline = false;
  private nextStartupDelayMs = FIRST_ONLINE_PROBE_MS;
  private since = new Date();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private closed = false;
  private linkTransitions = 0;

  constructor(
    private readonly servers: readonly ApiServer[],
    private readonly opts: LinkHealthOptions,
  ) {}

  /** Runs the first probe round (so the link state is known before serving), then probes periodically. */
  async start(): Promise<void> {
    await this.probeRound();
    this.scheduleProbe();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    await this.probing;
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

  /** A request to `u` got its response head. */
  recordSuccess(u: ApiServer): void {
    if (u.breaker.success()) {
      this.opts.logger?.info('upstream healthy', { upstream: u.url.href });
      this.updateLink();
    }
  }

  /** A request to `u` failed in transport (u.lastError says how). */
  recordFailure(u: ApiServer): void {
    if (u.breaker.failure()) {
      this.opts.logger?.warn('upstream unhealthy', { upstream: u.url.href, error: u.lastError });
      this.updateLink();
    }
  }

  private updateLink(): void {
    if (this.servers.some((u) => u.breaker.state === 'unknown')) return;
    const online = this.servers.some((u) => u.healthy);
    if (online === this.online) return;
    const first = this.online === undefined;
    this.online = online;
    if (online) this.wasOnline = true;
    this.since = new Date();
    if (!first) this.linkTransitions++;
    this.opts.logger?.info(online ? 'link online' : 'link offline', {
      upstream: this.opts.currentUpstream(),
    });
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
        upstream: this.opts.currentUpstream(),
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
    let delay = this.opts.probeIntervalMs;
    if (!this.wasOnline && this.nextStartupDelayMs < delay) {
      delay = this.nextStartupDelayMs;
      this.nextStartupDelayMs *= 2;
    }
    this.probeTimer = setTimeout(() => {
      this.probing = this.probeRound().finally(() => {
        this.probing = undefined;
        this.scheduleProbe();
      });
    }, delay);
    this.probeTimer.unref();
  }

  private async probeRound(): Promise<void> {
    await Promise.all(this.servers.map((u) => this.probe(u)));
    this.updateLink();
    // Refresh checkedAt every round: readers treat a stale file as "unknown".
    this.publish();
  }

  private async probe(u: ApiServer): Promise<void> {
    const started = process.hrtime.bigint();
    u.probes++;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`probe timed out after ${this.opts.probeTimeoutMs} ms`)),
      this.opts.probeTimeoutMs,
    );
    try {
      const res = await this.opts.send(u, {
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
