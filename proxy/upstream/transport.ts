/**
 * Sending one request to one API server as an identity: keep-alive agents per (server, identity
 * kind), one TLS secure context each, the node's client certificate re-read when kubelet rotates
 * it (idle sockets of the old one destroyed), the identity's credentials, the connect +
 * response-head timeout. Failover and health are the pool's.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { upstreamRequestHeaders } from '../hop-by-hop.js';
import type { Logger } from '../log.js';
import type { Identity, UpgradeTarget, UpstreamRequest } from '../types.js';
import type { ApiServer } from './api-server.js';
import type { ClientCertSource } from './client-cert.js';

export interface TransportOptions {
  /** CA bundle (PEM) that signs the servers' certificates; system roots when absent. */
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  /** The node's client certificate (node identity); re-read on change. */
  clientCert?: ClientCertSource;
  /** Bearer token for the node identity when it has no client certificate. */
  nodeToken?: () => string | undefined;
  /** Default connect + response-head timeout of a request. */
  requestTimeoutMs: number;
  logger?: Logger;
}

interface AgentEntry {
  agent: http.Agent;
  generation: number;
}

export class Transport {
  private readonly agents = new Map<string, AgentEntry>();

  constructor(private readonly opts: TransportOptions) {}

  /** Resolves with the response head; rejects on transport errors (with `reusedSocket` set). */
  send(u: ApiServer, req: UpstreamRequest): Promise<IncomingMessage> {
    const timeoutMs = req.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const mod = u.secure ? https : http;
      const outgoing = mod.request({
        protocol: u.url.protocol,
        hostname: u.url.hostname,
        port: u.port,
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

  /** Where an upgrade (exec/attach/port-forward) to `u` goes, with the TLS material of the identity. */
  upgradeTarget(u: ApiServer, identity: Identity): UpgradeTarget {
    const headers: Record<string, string> = { host: u.url.host };
    const authorization = this.authorization(identity);
    if (authorization) headers.authorization = authorization;
    const m = identity.kind === 'node' ? this.opts.clientCert?.current() : undefined;
    return {
      url: u.url.href,
      target: {
        protocol: u.url.protocol,
        host: u.url.hostname,
        hostname: u.url.hostname,
        port: u.port,
        path: u.basePath,
        ...(this.opts.ca ? { ca: this.opts.ca } : {}),
        ...(m?.cert && m.key ? { cert: m.cert, key: m.key } : {}),
      },
      secure: !this.opts.insecureSkipTlsVerify,
      headers,
    };
  }

  destroy(): void {
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  /** The Authorization header the identity is sent upstream with, if any. */
  private authorization(identity: Identity): string | undefined {
    if (identity.kind === 'token') return identity.authorization;
    const token = this.opts.nodeToken?.();
    return token ? `Bearer ${token}` : undefined;
  }

  private outgoingHeaders(u: ApiServer, req: UpstreamRequest): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = req.headers ? upstreamRequestHeaders(req.headers) : {};
    headers.host = u.url.host;
    const authorization = this.authorization(req.identity);
    if (authorization) headers.authorization = authorization;
    if (req.body) headers['content-length'] = String(req.body.length);
    return headers;
  }

  private agentFor(u: ApiServer, identity: Identity): http.Agent {
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
}
