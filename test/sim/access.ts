/**
 * Who may do what: authentication (client certificates, bearer tokens, anonymous), the denials
 * tests install (403 as RBAC would answer) and injected throttling (429 with Retry-After).
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Identity, RequestRecord, TrafficFilter } from './counters.js';
import { errors, StatusError } from './status.js';

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
const PROBE_PATHS = new Set(['/healthz', '/livez', '/readyz']);

/** The cluster's authentication configuration: shared by every API server of one cluster. */
export class Credentials {
  readonly tokens = new Map<string, { user: string; groups: string[] }>();
  readonly revoked = new Set<string>();
}

export class Access {
  private denials: TrafficFilter[] = [];
  private throttles: Array<{ remaining: number; retryAfterSeconds: number; match: TrafficFilter }> = [];

  constructor(
    private readonly tls: boolean,
    /** Unauthenticated requests pass as system:anonymous (health and /version always do). */
    private readonly anonymous: boolean,
    readonly credentials: Credentials,
  ) {}

  addToken(token: string, user: string, groups: string[] = []): void {
    this.credentials.tokens.set(token, { user, groups });
  }

  revoke(serial: string): void {
    this.credentials.revoked.add(serial.toUpperCase());
  }

  deny(match: TrafficFilter): () => void {
    this.denials.push(match);
    return () => {
      this.denials = this.denials.filter((d) => d !== match);
    };
  }

  throttle(nextN: number, retryAfterSeconds: number, match: TrafficFilter): () => void {
    const t = { remaining: nextN, retryAfterSeconds, match };
    this.throttles.push(t);
    return () => {
      t.remaining = 0;
      this.throttles = this.throttles.filter((x) => x.remaining > 0);
    };
  }

  authenticate(req: IncomingMessage, path: string): Identity {
    const socket = req.socket as TLSSocket;
    if (this.tls && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const serial = (cert.serialNumber ?? '').toUpperCase();
      if (!this.credentials.revoked.has(serial)) {
        const o = cert.subject?.O;
        const groups = Array.isArray(o) ? o : o ? [o] : [];
        return {
          user: String(cert.subject?.CN ?? ''),
          groups: [...groups, 'system:authenticated'],
          via: 'cert',
          certSerial: serial,
        };
      }
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      const u = this.credentials.tokens.get(auth.slice(7).trim());
      if (u) return { user: u.user, groups: [...u.groups, 'system:authenticated'], via: 'token' };
      throw errors.unauthorized();
    }
    const anonymousAllowed = this.anonymous;
    if (anonymousAllowed || PUBLIC_PATHS.has(path)) {
      return { user: 'system:anonymous', groups: ['system:unauthenticated'], via: 'anonymous' };
    }
    throw errors.unauthorized();
  }

  authorize(rec: RequestRecord): void {
    const key = filterKey(rec);
    if (!this.denials.some((d) => filterMatches(d, key))) return;
    const user = rec.identity?.user ?? 'system:anonymous';
    if (!rec.resource) {
      throw new StatusError(
        403,
        'Forbidden',
        `forbidden: User "${user}" cannot ${rec.verb} path "${rec.path}"`,
      );
    }
    const scope = rec.namespace ? `in the namespace "${rec.namespace}"` : 'at the cluster scope';
    const what = rec.subresource ? `${rec.resource}/${rec.subresource}` : rec.resource;
    const named = rec.name ? ` "${rec.name}"` : '';
    throw new StatusError(
      403,
      'Forbidden',
      `${rec.resource}${named} is forbidden: User "${user}" cannot ${rec.verb} resource "${what}" in API group "${rec.group}" ${scope}`,
      { name: rec.name || undefined, group: rec.group, kind: rec.resource },
    );
  }

  checkThrottle(rec: RequestRecord): void {
    if (PROBE_PATHS.has(rec.path)) return;
    const key = filterKey(rec);
    for (const t of this.throttles) {
      if (t.remaining <= 0 || !filterMatches(t.match, key)) continue;
      t.remaining--;
      this.throttles = this.throttles.filter((x) => x.remaining > 0);
      throw errors.tooManyRequests(t.retryAfterSeconds);
    }
  }
}

export function filterKey(rec: RequestRecord): Record<string, string> {
  return {
    verb: rec.verb,
    group: rec.group,
    resource: rec.resource,
    subresource: rec.subresource,
    namespace: rec.namespace,
    labelSelector: rec.labelSelector,
    fieldSelector: rec.fieldSelector,
    user: rec.identity?.user ?? '',
    path: rec.path,
  };
}

export function filterMatches(f: TrafficFilter, key: Record<string, string>): boolean {
  return Object.entries(f).every(([k, v]) => v === undefined || key[k] === v);
}
