import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isCacheCorruption } from './cache/corruption.js';
import { CacheFiller, Tee } from './cache/filler.js';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './cache/json-scan.js';
import { gvrOf, resourceFacts } from './gvr.js';
import type { Logger } from './log.js';
import { type ProxyMetrics, resourceLabel } from './metrics.js';
import { listOptionsError, parseRequestInfo, RequestInfoError } from './request-info.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { decideAccept } from './serve/accept.js';
import { accessFields } from './serve/access-log.js';
import { BodyTooLargeError, readBody } from './serve/body.js';
import { ALLOW_HEADER, API_METHODS } from './serve/client-error.js';
import { relayResponse, responseHeadersForClient } from './serve/http-util.js';
import { identityOf } from './serve/identity.js';
import { offlineGet, offlineList } from './serve/offline-read.js';
import { onResponseHead } from './serve/on-head.js';
import { isRecordedPath, recordedKey, sendRecorded } from './serve/recorded.js';
import { plainFromTable, tableFromPlain } from './serve/table-read.js';
import { refuseUpgrade, relayUpgrade } from './serve/upgrade.js';
import { sendStatus } from './status.js';
import { includeObjectOf, requestedTable, reshapeTable, withFullObjects } from './table/index.js';
import {
  type CacheQueue,
  type CacheStoreApi,
  type Identity,
  type RequestInfo,
  type UpgradeTargets,
  type UpstreamPool,
  UpstreamUnavailableError,
  type WatchHubApi,
  type WritePolicyApi,
} from './types.js';

/**
 * Routes every local request (design.md §4): reads fill the cache online and are answered from it
 * offline; watches go to the WatchHub; writes pass through online and go to the WritePolicy
 * offline; what the cache cannot represent passes through untouched.
 */
export interface ProxyServerOptions {
  pool: UpstreamPool & UpgradeTargets;
  store: CacheStoreApi;
  writer: CacheQueue;
  hub: WatchHubApi;
  writes?: WritePolicyApi;
  metrics: ProxyMetrics;
  logger: Logger;
  maxBodyBytes: number;
}

type ServedFrom = 'upstream' | 'cache' | 'local' | 'proxy';

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  info: RequestInfo;
  identity: Identity;
  servedFrom: ServedFrom;
  /** Aborts the upstream request when the client goes away. */
  abort: AbortController;
}

/** The client disconnected while we waited for upstream: nothing left to answer. */
class ClientGoneError extends Error {}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

const HTTPS_NEEDS_TOKEN =
  'the HTTPS listener serves clients with credentials only: send an Authorization header (e.g. a bearer token)';

/** Drops `as=Table` alternatives when the client also takes plain JSON (kubectl does). */
function withoutTables(accept: string | undefined): string | undefined {
  if (!accept) return accept;
  const parts = accept.split(',').filter((p) => !/;\s*as=Table\b/i.test(p));
  return parts.length > 0 ? parts.join(',') : accept;
}

export class ProxyServer {
  private readonly filler: CacheFiller;

  constructor(private readonly opts: ProxyServerOptions) {
    this.filler = new CacheFiller(opts.store, opts.writer, opts.logger.child({ component: 'cache-fill' }));
  }

  /** The `request` listener of both the HTTP and the HTTPS server. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((err: unknown) => {
      if (err instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      this.opts.logger.error('request failed', { method: req.method, url: req.url, error: err });
      // The store has replaced the damaged file by now: the same request will work again.
      if (!res.headersSent && isCacheCorruption(err))
        sendStatus(res, 503, 'ServiceUnavailable', 'the cache was damaged and has been reset: retry', {
          retryAfterSeconds: 1,
        });
      else if (!res.headersSent)
        sendStatus(res, 500, 'InternalError', `proxy error: ${(err as Error).message}`);
      else res.destroy();
    });
  };

  /**
   * The `request` listener of the HTTPS server (--https-listen), which is for token clients: a
   * request without credentials gets 401 there. Only the loopback plain listener acts as the node.
   */
  readonly handleTokenRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (identityOf(req).kind !== 'node') {
      this.handleRequest(req, res);
      return;
    }
    req.resume();
    this.refuseUnparsed(res, 401, 'Unauthorized', HTTPS_NEEDS_TOKEN);
  };

  /** The `upgrade` listener of the HTTPS server: token clients only, as handleTokenRequest. */
  readonly handleTokenUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (identityOf(req).kind !== 'node') {
      this.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => socket.destroy());
    refuseUpgrade(socket, 401, HTTPS_NEEDS_TOKEN);
  };

  /** The `upgrade` listener: exec/attach/port-forward pass through byte for byte while online. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    if (!this.opts.pool.isOnline()) {
      refuseUpgrade(socket, 503, 'node is offline: streaming connections need the API server');
      return;
    }
    this.opts.metrics.requests.inc({
      verb: 'connect',
      resource: 'upgrade',
      code: '101',
      served_from: 'upstream',
    });
    relayUpgrade(req, socket, head, this.opts.pool.upgradeTarget(identityOf(req)), this.opts.logger);
  };

  /** A Status for a request refused before it was parsed, counted (verb and resource unknown) when it closes. */
  private refuseUnparsed(res: ServerResponse, code: number, reason: string, message: string): void {
    res.once('close', () =>
      this.opts.metrics.requests.inc({
        verb: 'unknown',
        resource: 'unknown',
        code: String(code),
        served_from: 'proxy',
      }),
    );
    sendStatus(res, code, reason, message);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let info: RequestInfo;
    try {
      info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    } catch (err) {
      if (err instanceof RequestInfoError) {
        this.refuseUnparsed(res, 400, 'BadRequest', err.message);
        return;
      }
      throw err;
    }
    const ex: Exchange = {
      req,
      res,
      info,
      identity: identityOf(req),
      servedFrom: 'upstream',
      abort: new AbortController(),
    };
    res.once('close', () => {
      if (!res.writableFinished) ex.abort.abort(new Error('client went away'));
    });
    const stopTimer = this.opts.metrics.requestDuration.startTimer({
      verb: String(info.verb),
      resource: resourceLabel(info),
    });
    // Counted when the head goes out (an open watch is a request too), else when it closes.
    let counted = false;
    const count = (code: number) => {
      if (counted) return;
      counted = true;
      this.opts.metrics.requests.inc({
        verb: String(info.verb),
        resource: resourceLabel(info),
        code: String(code),
        served_from: ex.servedFrom,
      });
      if (this.opts.logger.enabled('debug'))
        this.opts.logger.debug('request', accessFields(req, info, ex.identity, code, ex.servedFrom));
    };
    onResponseHead(res, count);
    res.once('close', () => {
      stopTimer({ served_from: ex.servedFrom });
      count(res.statusCode);
    });

    if (!info.isResourceRequest) return this.nonResource(ex);
    if (!(API_METHODS as readonly string[]).includes(req.method ?? '')) {
      // OPTIONS, TRACE, PROPFIND...: no verb of the API, online or offline.
      ex.servedFrom = 'proxy';
      res.setHeader('Allow', ALLOW_HEADER);
      sendStatus(
        res,
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource`,
      );
      return;
    }
    // Lists and watches the proxy answers itself: refuse what the API server refuses.
    const selfServed = info.verb === 'watch' || (info.verb === 'list' && !this.opts.pool.isOnline());
    const badOptions = selfServed ? listOptionsError(info) : undefined;
    if (badOptions !== undefined) {
      ex.servedFrom = 'proxy';
      sendStatus(res, 400, 'BadRequest', badOptions);
      return;
    }
    if (info.verb === 'list' || info.verb === 'watch') {
      try {
        parseLabelSelector(info.labelSelector);
        // Syntax only: which fields a resource supports is upstream's call online (CRDs may add
        // selectable fields); offline-read checks them against what it can evaluate.
        parseFieldSelector(info.fieldSelector);
      } catch (err) {
        if (err instanceof SelectorError) {
          ex.servedFrom = 'proxy';
          sendStatus(res, 400, 'BadRequest', err.message);
          return;
        }
        throw err;
      }
    }
    if (req.method === 'GET' && (info.verb === 'get' || info.verb === 'list')) return this.read(ex);
    if (info.verb === 'watch') return this.watch(ex);
    if (WRITE_VERBS.has(info.verb)) return this.write(ex);
    return this.passthrough(ex, 'needs the API server');
  }

  // ---- reads -------------------------------------------------------------------------------

  private async read(ex: Exchange): Promise<void> {
    const { info, req, res } = ex;
    const accept = decideAccept(req.headers.accept);
    const objectRead = info.subresource === '' || (info.subresource === 'status' && info.verb === 'get');
    // Tables: upstream prints online (the version asked for), the cache fills from its rows;
    // offline the proxy prints them (also for clients that take nothing but a Table).
    const table = info.subresource === '' && requestedTable(req.headers.accept) !== undefined;
    if (!accept.json && !table) {
      // Protobuf-only clients: we cannot transcode the JSON we hold, so online only.
      if (this.opts.pool.isOnline()) return this.passthrough(ex, 'needs the API server');
      ex.servedFrom = 'proxy';
      sendStatus(
        res,
        406,
        'NotAcceptable',
        'node is offline: cached objects are served as application/json only',
      );
      return;
    }
    if (!this.opts.pool.isOnline()) return this.offlineRead(ex);
    if (table) return this.tableRead(ex);
    if (accept.wantsOtherShape || info.subresource !== '') {
      // Tables, metadata-only lists and subresources pass through untouched; offline, plain JSON.
      const up = await this.forward(ex, undefined);
      if (!up) return objectRead ? this.offlineRead(ex) : this.offline503(ex, 'needs the API server');
      await relayResponse(up, res, undefined, { stream: info.subresource !== '' });
      return;
    }
    const up = await this.forward(ex, undefined, { accept: 'application/json' });
    if (!up) return this.offlineRead(ex);
    // Fingerprinted: an unchanged answer (same resourceVersion as cached) queues nothing.
    const tee = new Tee({ fingerprint: true, encoding: up.headers['content-encoding'] });
    const complete = await relayResponse(up, res, tee.push);
    if (!complete) return;
    const status = up.statusCode ?? 0;
    if (info.verb === 'get') this.filler.object(info, ex.identity, status, up.headers, tee);
    else this.filler.list(info, ex.identity, status, up.headers, tee);
  }

  /**
   * A Table read online: upstream's Table is fetched with full row objects, fills the cache as the
   * plain read would, and the client gets the rows' objects it asked for (includeObject).
   */
  private async tableRead(ex: Exchange): Promise<void> {
    const { info, req, res } = ex;
    const include = includeObjectOf(req.url ?? '');
    const url = req.url ?? '/';
    const up = await this.forward(
      ex,
      undefined,
      { 'accept-encoding': 'identity' },
      include ? withFullObjects(url) : url,
    );
    if (!up) return this.offlineRead(ex);
    const chunks: Buffer[] = [];
    for await (const chunk of up) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const status = up.statusCode ?? 502;
    let table: { kind?: string; apiVersion?: string } | undefined;
    if (include && status === 200 && /^application\/json\b/i.test(String(up.headers['content-type'] ?? ''))) {
      try {
        table = JSON.parse(raw.toString('utf8'));
      } catch {
        table = undefined;
      }
    }
    const headers = responseHeadersForClient(up.headers);
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    if (!include || table?.kind !== 'Table') {
      res.writeHead(status, { ...headers, 'content-length': raw.length });
      res.end(raw);
      return;
    }
    const plain = plainFromTable(info, gvrOf(info), table);
    if (plain) {
      const tee = new Tee({ fingerprint: true });
      tee.push(plain);
      const plainHeaders = { 'content-type': 'application/json' };
      if (info.verb === 'get') this.filler.object(info, ex.identity, 200, plainHeaders, tee);
      else this.filler.list(info, ex.identity, 200, plainHeaders, tee);
    }
    const body = JSON.stringify(reshapeTable(table, include));
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private offlineRead(ex: Exchange): void {
    const { info, res } = ex;
    ex.servedFrom = 'cache';
    const gvr = gvrOf(info);
    if (!resourceFacts(gvr) && this.opts.store.resourceVersion(gvr) === '') {
      // Neither built in, nor learned from discovery, nor ever cached: the API server's answer
      // for a resource it does not serve.
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource', {
        group: info.group,
        kind: info.resource,
      });
      return;
    }
    const asObject = info.subresource === 'status' ? { ...info, subresource: '' } : info;
    // A Table is printed here from the plain answer; other shapes are offline-read's.
    const table = info.subresource === '' ? requestedTable(ex.req.headers.accept) : undefined;
    const include = includeObjectOf(ex.req.url ?? '');
    if (table && !include) {
      ex.servedFrom = 'proxy';
      sendStatus(res, 400, 'BadRequest', 'includeObject must be one of None, Metadata or Object');
      return;
    }
    const accept = table ? 'application/json' : withoutTables(ex.req.headers.accept);
    const answer =
      info.verb === 'get'
        ? offlineGet(this.opts.store, asObject, ex.identity, { accept })
        : offlineList(this.opts.store, info, ex.identity, { accept });
    const body =
      table && include && answer.status === 200
        ? tableFromPlain(info, gvr, answer.body, table, include)
        : answer.body;
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-cache, private',
    });
    res.end(body);
  }

  // ---- watches -----------------------------------------------------------------------------

  private async watch(ex: Exchange): Promise<void> {
    const { info, req, res } = ex;
    // The hub serves JSON events (also to Table-asking kubectl -w, which takes the JSON fallback);
    // a protobuf-only watcher can only be served by upstream itself.
    if (!decideAccept(req.headers.accept).json) {
      if (this.opts.pool.isOnline()) return this.passthrough(ex, 'needs the API server');
      ex.servedFrom = 'proxy';
      sendStatus(res, 406, 'NotAcceptable', 'node is offline: watches are served as application/json only');
      return;
    }
    ex.servedFrom = this.opts.pool.isOnline() ? 'upstream' : 'cache';
    this.opts.hub.serve(req, res, info, ex.identity);
  }

  // ---- writes ------------------------------------------------------------------------------

  private async write(ex: Exchange): Promise<void> {
    const { info, req, res } = ex;
    let body: Buffer;
    try {
      body = await readBody(req, this.opts.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        ex.servedFrom = 'proxy';
        sendStatus(res, 413, 'RequestEntityTooLarge', err.message);
        req.resume();
        return;
      }
      throw err;
    }
    if (this.tooDeep(ex, body)) return;
    const online = this.opts.pool.isOnline();
    if (online && (await this.opts.writes?.handleOnline?.(req, res, info, ex.identity, body))) return;
    // The answer fills the cache (the created or changed object, and its grant), which holds
    // JSON: kubelet accepts `protobuf,json`, so it gets JSON, as for its reads.
    const accept = decideAccept(req.headers.accept);
    const asJson = accept.json && !accept.wantsOtherShape ? { accept: 'application/json' } : undefined;
    const up = online ? await this.forward(ex, body, asJson) : undefined;
    if (!up) {
      ex.servedFrom = 'local';
      if (this.opts.writes) return this.opts.writes.handleOffline(req, res, info, ex.identity, body);
      ex.servedFrom = 'proxy';
      sendStatus(res, 503, 'ServiceUnavailable', 'node is offline: writes are not accepted', {
        retryAfterSeconds: 10,
      });
      return;
    }
    const tee = new Tee();
    const complete = await relayResponse(up, res, tee.push);
    const status = up.statusCode ?? 0;
    this.opts.writes?.observeOnline(info, ex.identity, body, status);
    if (complete && info.verb !== 'delete' && info.verb !== 'deletecollection') {
      this.filler.written(info, ex.identity, status, up.headers, tee);
    }
  }

  // ---- non-resource requests ---------------------------------------------------------------

  private async nonResource(ex: Exchange): Promise<void> {
    const { req, res, info } = ex;
    if (req.method !== 'GET' || !isRecordedPath(info.path))
      return this.passthrough(ex, 'needs the API server');
    const key = recordedKey(req.url ?? '/', req.headers.accept);
    const up = this.opts.pool.isOnline() ? await this.forward(ex, undefined) : undefined;
    if (up) {
      const tee = new Tee();
      const complete = await relayResponse(up, res, tee.push);
      if (complete) this.filler.raw(key, up.statusCode ?? 0, up.headers, tee);
      return;
    }
    ex.servedFrom = 'cache';
    const cached = this.opts.store.getRaw(key);
    if (!cached) {
      sendStatus(
        res,
        503,
        'ServiceUnavailable',
        `node is offline and ${info.path} was never fetched with this Accept`,
      );
      return;
    }
    sendRecorded(req, res, cached);
  }

  // ---- upstream plumbing -------------------------------------------------------------------

  private async passthrough(ex: Exchange, why: string): Promise<void> {
    let body: Buffer | undefined;
    if (ex.req.headers['content-length'] !== undefined || ex.req.headers['transfer-encoding'] !== undefined) {
      try {
        body = await readBody(ex.req, this.opts.maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          ex.servedFrom = 'proxy';
          sendStatus(ex.res, 413, 'RequestEntityTooLarge', err.message);
          ex.req.resume();
          return;
        }
        throw err;
      }
      if (this.tooDeep(ex, body)) return;
    }
    const up = this.opts.pool.isOnline() ? await this.forward(ex, body) : undefined;
    if (!up) return this.offline503(ex, why);
    // Anything passed through may be a stream (logs?follow, proxy/...): show its head at once.
    await relayResponse(up, ex.res, undefined, { stream: true });
  }

  /** Answers 400 for a body nested deeper than the proxy's code can walk (json-scan.ts). */
  private tooDeep(ex: Exchange, body: Buffer): boolean {
    // JSON only: protobuf bytes and YAML block text may hold any number of brackets.
    const type = ex.req.headers['content-type'];
    if ((type !== undefined && !/json/i.test(type)) || !jsonDepthExceeds(body)) return false;
    ex.servedFrom = 'proxy';
    sendStatus(ex.res, 400, 'BadRequest', `the request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    return true;
  }

  private offline503(ex: Exchange, why: string): void {
    ex.servedFrom = 'proxy';
    const what = ex.info.isResourceRequest
      ? `${ex.info.verb} ${ex.info.resource}${ex.info.subresource ? `/${ex.info.subresource}` : ''}`
      : `${ex.req.method} ${ex.info.path}`;
    sendStatus(ex.res, 503, 'ServiceUnavailable', `node is offline: ${what} ${why}`, {
      retryAfterSeconds: 10,
    });
  }

  /** Sends the request upstream; undefined when no upstream could be reached (caller goes offline). */
  private async forward(
    ex: Exchange,
    body: Buffer | undefined,
    override?: Record<string, string>,
    path?: string,
  ): Promise<IncomingMessage | undefined> {
    try {
      return await this.opts.pool.request({
        method: ex.req.method ?? 'GET',
        path: path ?? ex.req.url ?? '/',
        // The pool drops connection headers and the client's credentials (one pass, there).
        headers: override ? { ...ex.req.headers, ...override } : ex.req.headers,
        ...(body ? { body } : {}),
        identity: ex.identity,
        signal: ex.abort.signal,
      });
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) return undefined;
      if (ex.abort.signal.aborted) throw new ClientGoneError();
      throw err;
    }
  }
}
