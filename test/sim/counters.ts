/**
 * What tests observe about the traffic: a bounded request log and exact counters (requests and
 * body bytes) per (verb, group, resource, subresource, namespace, selectors, user).
 */

export interface Identity {
  user: string;
  groups: string[];
  via: 'cert' | 'token' | 'anonymous';
  /** Serial of the client certificate used, when authenticated by one. */
  certSerial?: string;
}

export interface RequestRecord {
  time: number;
  method: string;
  path: string;
  query: Record<string, string>;
  /** get/list/watch/create/update/patch/delete/deletecollection, or the lower-case method for non-resource paths. */
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  labelSelector: string;
  fieldSelector: string;
  identity?: Identity;
  /** Request headers that tell clients and their wire formats apart. */
  userAgent: string;
  accept: string;
  contentType: string;
  /** Status code sent (0 while a response is pending or when it never got one, e.g. blackholed). */
  status: number;
  /** Response body bytes written so far (watch streams keep counting). */
  bytes: number;
}

/** Fields a counter query can fix; any field left out matches everything. */
export interface TrafficFilter {
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  user?: string;
  path?: string;
}

/** A (resource, namespace, selectors) key like the proxy's shared-watch keys; omitted parts match all. */
export type WatchKey = Omit<TrafficFilter, 'verb' | 'path'>;

interface Bucket {
  key: Required<TrafficFilter>;
  count: number;
  bytes: number;
}

function matches(key: Required<TrafficFilter>, f: TrafficFilter): boolean {
  for (const [k, v] of Object.entries(f)) {
    if (v !== undefined && key[k as keyof TrafficFilter] !== v) return false;
  }
  return true;
}

export class Counters {
  readonly log: RequestRecord[] = [];
  private buckets = new Map<string, Bucket>();
  private totalBytes = 0;

  constructor(private readonly logLimit: number) {}

  private bucketKey(r: RequestRecord): Required<TrafficFilter> {
    return {
      verb: r.verb,
      group: r.group,
      resource: r.resource,
      subresource: r.subresource,
      namespace: r.namespace,
      labelSelector: r.labelSelector,
      fieldSelector: r.fieldSelector,
      user: r.identity?.user ?? '',
      // Resource requests are counted by resource; only non-resource requests keep their path.
      path: r.resource ? '' : r.path,
    };
  }

  private bucket(r: RequestRecord): Bucket {
    const key = this.bucketKey(r);
    const id = JSON.stringify(key);
    let b = this.buckets.get(id);
    if (!b) {
      b = { key, count: 0, bytes: 0 };
      this.buckets.set(id, b);
    }
    return b;
  }

  /** Counts a request once it is authenticated and routed (before any answer). */
  record(r: RequestRecord): void {
    this.log.push(r);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    this.bucket(r).count++;
  }

  addBytes(r: RequestRecord, n: number): void {
    r.bytes += n;
    this.totalBytes += n;
    this.bucket(r).bytes += n;
  }

  count(f: TrafficFilter = {}): number {
    let n = 0;
    for (const b of this.buckets.values()) if (matches(b.key, f)) n += b.count;
    return n;
  }

  bytes(f?: TrafficFilter): number {
    if (!f) return this.totalBytes;
    let n = 0;
    for (const b of this.buckets.values()) if (matches(b.key, f)) n += b.bytes;
    return n;
  }

  reset(): void {
    this.log.length = 0;
    this.buckets = new Map();
    this.totalBytes = 0;
  }
}
