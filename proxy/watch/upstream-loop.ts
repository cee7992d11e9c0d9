/**
 * The upstream side of one shared watch: the loop that keeps an upstream watch open for the key,
 * resumes it from the newest version the watch knows after every end or break (with back-off,
 * none after a rewind), relists once after a 410, and primes a key that has no copy of its scope
 * yet. What upstream sends goes to the shared watch's hooks, which own the event log, the index
 * and the fan-out to local watchers.
 *
 * Until upstream first answers this identity's watch (or list) of the scope, new watchers wait for
 * its verdict: a 403/404 reaches them instead of an empty stream.
 */
import type { Logger } from '../log.js';
import { parseResourceVersion } from '../resource-version.js';
import type { Identity, KubeList, Scope, UpstreamPool, WatchEvent } from '../types.js';
import { Backoff } from './backoff.js';
import type { WatchMetrics } from './metrics.js';
import { listUpstream, openUpstreamWatch, readWatchEvents, type UpstreamRefusal } from './upstream-stream.js';

export interface UpstreamLoopConfig {
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Upstream watches ask for [t, 2t) seconds and are resumed when they end. */
  upstreamTimeoutSeconds: number;
  /** Spread of the first reconnect after the link comes back. */
  reconnectJitterMs: number;
  random: () => number;
}

/** What the loop hands the shared watch. */
export interface UpstreamHooks {
  /** The version to resume the upstream watch from; undefined when there is none (list first). */
  resumeFrom(): bigint | undefined;
  /** One upstream event and its line as received. */
  event(ev: WatchEvent, line: string): void;
  /** The list after a 410, at `listRv`: its difference to what watchers hold becomes events. */
  relisted(list: KubeList, listRv: bigint): void;
  /** The first list of a key without a copy of its scope, at `listRv`. */
  primed(list: KubeList, listRv: bigint): void;
  /** Local watchers now connected (counted as relists avoided when carried across a break). */
  watcherCount(): number;
  /** Upstream refused this identity before ever accepting it, and its watchers got the refusal. */
  refused(): void;
}

export interface UpstreamLoopDeps {
  pool: UpstreamPool;
  scope: Scope;
  identity: Identity;
  config: UpstreamLoopConfig;
  metrics: WatchMetrics;
  /** The metrics' resource label. */
  resource: string;
  log: Logger;
  hooks: UpstreamHooks;
}

/** Abort reason of an upstream request stopped by a rewind (not a break: no back-off). */
const REWIND = Symbol('rewind');

type Outcome =
  | { kind: 'ok' }
  | { kind: 'retry'; retryAfterMs?: number }
  | { kind: 'fatal'; refusal: UpstreamRefusal };

export class UpstreamLoop {
  private needRelist = false;
  /** Until upstream first accepts this identity's watch, new watchers wait for its verdict. */
  private gate: Promise<UpstreamRefusal | undefined> | undefined;
  private openGate: ((r: UpstreamRefusal | undefined) => void) | undefined;
  private priming: Promise<UpstreamRefusal | undefined> | undefined;
  private running = false;
  private closed = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  /** The upstream stream broke since it was last open: the next open is a resume. */
  private interrupted = false;
  private readonly backoff: Backoff;
  /** Upstream has accepted this identity's watch or list of the scope at least once. */
  accepted = false;

  constructor(private readonly deps: UpstreamLoopDeps) {
    this.backoff = new Backoff({
      baseMs: deps.config.backoffBaseMs,
      maxMs: deps.config.backoffMaxMs,
      random: deps.config.random,
    });
  }

  /**
   * Starts the loop unless it runs. While upstream has not yet given its verdict on this key, the
   * promise of that verdict (a refusal, or undefined once accepted or unreachable); else undefined.
   */
  start(): Promise<UpstreamRefusal | undefined> | undefined {
    if (!this.gate && !this.running && this.deps.pool.isOnline()) {
      this.gate = new Promise((resolve) => {
        this.openGate = resolve;
      });
    }
    this.ensureRunning();
    return this.gate;
  }

  linkChanged(online: boolean): void {
    if (this.closed) return;
    if (online) {
      this.backoff.reset();
      const delay = Math.round(this.deps.config.random() * this.deps.config.reconnectJitterMs);
      setTimeout(() => this.wake?.(), delay).unref();
    } else {
      // A partitioned stream may never report its death; drop it and resume when back online.
      this.abort?.abort();
    }
  }

  /**
   * The watch's start moved back: the open request (watch or relist) is stopped and redone at
   * once from the new start. The reason marks that request's own controller: a flag on the loop
   * would outlive a request that ended otherwise (a relist) and make a later real break skip its
   * back-off.
   */
  rewind(): void {
    this.abort?.abort(REWIND);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort?.abort();
    this.wake?.();
    this.openGate?.(undefined);
  }

  /** The first LIST for a resourceVersion=0 watch when the store holds no complete copy. */
  prime(): Promise<UpstreamRefusal | undefined> {
    this.priming ??= (async () => {
      try {
        this.deps.metrics.relists.inc({ resource: this.deps.resource });
        const ac = new AbortController();
        const result = await listUpstream(this.deps.pool, this.deps.scope, this.deps.identity, ac.signal);
        if (!result.ok) return result.refusal;
        this.accepted = true;
        const listRv = parseResourceVersion(result.list.metadata.resourceVersion);
        if (listRv === undefined) return undefined;
        this.deps.hooks.primed(result.list, listRv);
        return undefined;
      } catch (err) {
        this.deps.log.debug('priming list failed', { err });
        return undefined;
      } finally {
        this.priming = undefined;
      }
    })();
    return this.priming;
  }

  private ensureRunning(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.loop()
      .catch((err) => this.deps.log.error('shared watch loop failed', { err }))
      .finally(() => {
        this.running = false;
        this.openGate?.(undefined);
      });
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (!this.deps.pool.isOnline()) {
        this.admit(undefined);
        await this.sleep(undefined);
        continue;
      }
      const outcome = this.needRelist ? await this.relist() : await this.watchOnce();
      if (this.closed) return;
      if (outcome.kind === 'ok') continue;
      if (outcome.kind === 'fatal') {
        this.deps.log.warn('upstream refused the watch', { code: outcome.refusal.code });
        if (this.admit(outcome.refusal)) {
          // Never accepted for this identity: its watchers got the refusal; nothing to keep.
          this.deps.hooks.refused();
          return;
        }
      } else this.admit(undefined);
      const delay = this.backoff.next(outcome.kind === 'retry' ? outcome.retryAfterMs : undefined);
      this.deps.log.debug('upstream watch retry', { delayMs: delay });
      await this.sleep(delay);
    }
  }

  /** Resolves the first-open gate; true if the refusal reached waiting watchers. */
  private admit(refusal: UpstreamRefusal | undefined): boolean {
    const open = this.openGate;
    if (!open) return false;
    this.openGate = undefined;
    this.gate = undefined;
    open(refusal);
    return refusal !== undefined;
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      timer?.unref();
      const self = this;
      function done(): void {
        if (timer) clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async watchOnce(): Promise<Outcome> {
    const from = this.deps.hooks.resumeFrom();
    if (from === undefined) {
      this.needRelist = true;
      return { kind: 'ok' };
    }
    const { pool, scope, identity, config: c, metrics, resource, log } = this.deps;
    const ac = new AbortController();
    this.abort = ac;
    let open: Awaited<ReturnType<typeof openUpstreamWatch>>;
    try {
      open = await openUpstreamWatch(pool, scope, {
        resourceVersion: String(from),
        timeoutSeconds: Math.round(c.upstreamTimeoutSeconds * (1 + c.random())),
        identity,
        signal: ac.signal,
      });
    } catch (err) {
      this.abort = undefined;
      if (ac.signal.reason === REWIND) return { kind: 'ok' };
      log.debug('upstream watch open failed', { err });
      return { kind: 'retry' };
    }
    if (!open.ok) {
      this.abort = undefined;
      return this.classify(open.refusal);
    }
    this.accepted = true;
    this.admit(undefined);
    if (this.interrupted) {
      // Every local watcher stayed connected across the break instead of relisting.
      metrics.relistsAvoided.inc({ resource }, this.deps.hooks.watcherCount());
      this.interrupted = false;
    }
    log.debug('upstream watch open', { resourceVersion: String(from) });
    metrics.upstreamOpen.inc({ resource });
    const started = Date.now();
    let events = 0;
    let expired = false;
    let failed = false;
    try {
      await readWatchEvents(open.res, (ev, line) => {
        events++;
        if (ev.type === 'ERROR') {
          const code = (ev.object as { code?: number }).code;
          if (code === 410) expired = true;
          else failed = true;
          open.res.destroy();
          return;
        }
        this.deps.hooks.event(ev, line);
      });
      if (expired) {
        this.needRelist = true;
        return { kind: 'ok' };
      }
      if (failed) {
        this.interrupted = true;
        return { kind: 'retry' };
      }
      this.backoff.reset();
      // A stream that ends at once without a word is a server problem, not a timeout.
      if (events === 0 && Date.now() - started < 1000) return { kind: 'retry' };
      return { kind: 'ok' };
    } catch (err) {
      if (expired) {
        this.needRelist = true;
        return { kind: 'ok' };
      }
      if (ac.signal.reason === REWIND) return { kind: 'ok' };
      if (!this.closed) this.interrupted = true;
      if (!failed) log.debug('upstream watch broke', { err });
      return { kind: 'retry' };
    } finally {
      this.abort = undefined;
      metrics.upstreamOpen.dec({ resource });
    }
  }

  private classify(refusal: UpstreamRefusal): Outcome {
    if (refusal.code === 410) {
      this.needRelist = true;
      return { kind: 'ok' };
    }
    if (refusal.code === 429 || refusal.code >= 500)
      return { kind: 'retry', retryAfterMs: refusal.retryAfterMs };
    return { kind: 'fatal', refusal };
  }

  /**
   * The one LIST after upstream said 410 (or when the watch has nothing to resume from); the
   * hooks turn it into events, and the watch resumes from the list's version.
   */
  private async relist(): Promise<Outcome> {
    const ac = new AbortController();
    this.abort = ac;
    let result: Awaited<ReturnType<typeof listUpstream>>;
    this.deps.metrics.relists.inc({ resource: this.deps.resource });
    try {
      result = await listUpstream(this.deps.pool, this.deps.scope, this.deps.identity, ac.signal);
    } catch (err) {
      // Rewound meanwhile: list again at once (the log now starts earlier), no back-off.
      if (ac.signal.reason === REWIND) return { kind: 'ok' };
      this.deps.log.debug('relist failed', { err });
      return { kind: 'retry' };
    } finally {
      this.abort = undefined;
    }
    if (!result.ok) {
      const o = this.classify(result.refusal);
      return o.kind === 'ok' ? { kind: 'retry' } : o;
    }
    this.accepted = true;
    const list = withItemKinds(result.list);
    const listRv = parseResourceVersion(list.metadata.resourceVersion);
    if (listRv === undefined) {
      this.deps.log.error('upstream list without a usable resourceVersion', {
        rv: list.metadata.resourceVersion,
      });
      return { kind: 'retry' };
    }
    this.deps.hooks.relisted(list, listRv);
    this.needRelist = false;
    this.interrupted = false;
    this.admit(undefined);
    return { kind: 'ok' };
  }
}

/**
 * List items come without kind/apiVersion (the list carries them); as watch event objects they
 * need their own, or clients cannot decode them (kubectl prints "status/<unknown>").
 */
function withItemKinds(list: KubeList): KubeList {
  const kind = list.kind?.endsWith('List') ? list.kind.slice(0, -4) : '';
  if (!kind) return list;
  const items = list.items.map((o) =>
    o.kind && o.apiVersion ? o : { ...o, kind, apiVersion: list.apiVersion },
  );
  return { ...list, items };
}
