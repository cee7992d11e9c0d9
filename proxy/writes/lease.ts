/**
 * kubelet's node lease while the link is down: renewals are answered locally while kubelet is
 * alive (LeaseLiveness), with a local resourceVersion; the first renewal after reconnect that
 * carries one is re-applied to the upstream lease, so it does not fail with 409. Leases are never
 * queued: a dead kubelet's lease must not be renewed upstream on reconnect.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { Counter, MetricsRegistry } from '../metrics.js';
import {
  isLocalResourceVersion,
  newerObjectRv,
  nextLocalResourceVersion,
  upstreamBaseOf,
} from '../resource-version.js';
import type {
  CacheStoreApi,
  Identity,
  KubeObject,
  RequestInfo,
  UpstreamPool,
  WatchHubApi,
} from '../types.js';
import { conflict, notFound, refuse, sendJson } from './answers.js';
import { applyOp, opFromRequest } from './apply-write.js';
import { gvrOf, objectPath } from './classify.js';
import { isObject } from './json-value.js';
import { LeaseLiveness } from './lease-liveness.js';
import { upstreamJson } from './upstream-json.js';
import { checkBodyMatchesUrl, parseObject } from './write-body.js';

export interface LeaseWritesDeps {
  store: CacheStoreApi;
  hub: Pick<WatchHubApi, 'emitLocal'>;
  pool: UpstreamPool;
  log?: Logger;
  registry?: MetricsRegistry;
  /** How long after kubelet's last renewal its lease is still answered locally; default 2 × leaseDurationSeconds. */
  leaseAliveWindowMs?: number;
  now: () => number;
}

export class LeaseWrites {
  private readonly liveness: LeaseLiveness;
  private readonly renewals: Counter | undefined;

  constructor(private readonly deps: LeaseWritesDeps) {
    this.liveness = new LeaseLiveness({ windowMs: deps.leaseAliveWindowMs, now: deps.now });
    this.renewals = deps.registry?.counter(
      'islet_lease_local_renewals_total',
      'Node lease renewals answered locally while offline.',
    );
  }

  /** An online renewal that went through proves kubelet alive. */
  observeOnline(info: RequestInfo, body: Buffer): void {
    this.liveness.record(info.name, leaseDuration(parseObject(body)));
  }

  /** Whether an online lease update carries a local version and must be re-applied upstream. */
  carriesLocalVersion(body: Buffer): KubeObject | undefined {
    const lease = parseObject(body);
    return lease && isLocalResourceVersion(lease.metadata.resourceVersion) ? lease : undefined;
  }

  /** A renewal while offline: answered locally while kubelet is alive, refused after. */
  renewLocally(res: ServerResponse, info: RequestInfo, contentType: string | undefined, body: Buffer): void {
    const gvr = gvrOf(info);
    const op = opFromRequest(info.verb, contentType, body);
    const current = this.deps.store.getObject(gvr, info.namespace, info.name);
    const sent = op.type === 'update' ? (op.body as unknown as KubeObject) : undefined;
    const liveness = this.liveness.check(info.name, leaseDuration(current) ?? leaseDuration(sent));
    if (!liveness.alive) {
      refuse(
        res,
        info,
        `: kubelet has not renewed lease ${info.namespace}/${info.name} for ${Math.round(liveness.silentMs / 1000)}s` +
          ` (more than ${Math.round(liveness.windowMs / 1000)}s), so the node is not reported alive`,
      );
      return;
    }
    let base: KubeObject;
    if (sent) {
      checkBodyMatchesUrl(sent, info);
      const sentRv = sent.metadata.resourceVersion;
      if (current && isLocalResourceVersion(sentRv) && sentRv !== current.metadata.resourceVersion) {
        throw conflict(info);
      }
      // the proxy may not have seen the last online renewal's answer: kubelet's own copy is as good
      base = current ?? sent;
    } else {
      if (!current) throw notFound(info);
      base = current;
    }
    const result = applyOp(base, op, 'object');
    const holderBefore = (current?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    const holderAfter = (result.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    if (holderBefore !== undefined && holderAfter !== holderBefore) {
      refuse(res, info, ': only renewals by the current holder are answered locally');
      return;
    }
    result.metadata.resourceVersion = nextLocalResourceVersion(
      newerObjectRv(current?.metadata.resourceVersion, sent?.metadata.resourceVersion),
    );
    this.liveness.record(info.name, leaseDuration(result));
    this.deps.hub.emitLocal(gvr, { type: current ? 'MODIFIED' : 'ADDED', object: result });
    this.renewals?.inc();
    sendJson(res, 200, result);
  }

  /** The API server's answer to a lease update, with the client's renewal re-applied to the newest lease. */
  async resync(res: ServerResponse, info: RequestInfo, identity: Identity, sent: KubeObject): Promise<void> {
    const { pool, store, log } = this.deps;
    const gvr = gvrOf(info);
    const path = objectPath(gvr, info.namespace, info.name);
    // first as kubelet meant it, at the upstream version the local ones were based on; if the
    // lease changed upstream meanwhile (409), re-apply kubelet's spec to the newest lease
    let desired: KubeObject = {
      ...sent,
      metadata: { ...sent.metadata, resourceVersion: upstreamBaseOf(sent.metadata.resourceVersion) },
    };
    let last = await upstreamJson(pool, 'PUT', path, identity, desired);
    for (let attempt = 0; attempt < 5 && last.status === 409; attempt++) {
      const fresh = await upstreamJson(pool, 'GET', path, identity);
      if (fresh.status < 200 || fresh.status >= 300) {
        last = fresh;
        break;
      }
      const upstream = fresh.body as KubeObject;
      const spec = isObject(upstream.spec as never) ? (upstream.spec as object) : {};
      desired = { ...upstream, spec: { ...spec, ...(sent.spec as object) } };
      last = await upstreamJson(pool, 'PUT', path, identity, desired);
    }
    if (last.status >= 200 && last.status < 300) {
      const renewed = last.body as KubeObject;
      store.upsertObject(gvr, renewed);
      this.liveness.record(info.name, leaseDuration(renewed));
      log?.info('lease renewal after local renewals sent upstream', {
        lease: `${info.namespace}/${info.name}`,
        localResourceVersion: sent.metadata.resourceVersion,
        resourceVersion: renewed.metadata.resourceVersion,
      });
    }
    res.writeHead(last.status, { 'Content-Type': 'application/json', 'Content-Length': last.raw.length });
    res.end(last.raw);
  }
}

function leaseDuration(lease: KubeObject | undefined): number | undefined {
  const d = (lease?.spec as { leaseDurationSeconds?: unknown } | undefined)?.leaseDurationSeconds;
  return typeof d === 'number' ? d : undefined;
}
