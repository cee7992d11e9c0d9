/**
 * The simulator's etcd + registry: every object of every resource, one global resourceVersion
 * (like an etcd revision), a history log of changes for watches and exact reads, compaction, and
 * the registry semantics of the API server (defaults, conflicts, status subresource, graceful
 * deletion and finalizers).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { clone, deepEqual, isPlainObject, kubeTime, type SimObject } from './object.js';
import { applyPatch } from './patch.js';
import { groupVersion, RESOURCES, type SimResource } from './resources.js';
import {
  type FieldRequirement,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  validateFieldSelector,
} from './selectors.js';
import { errors, StatusError } from './status.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One entry of the history log: what changed at revision `rv`. */
export interface Change {
  rv: number;
  type: ChangeType;
  resource: SimResource;
  namespace: string;
  name: string;
  /** The object after the change; for DELETED its last state carrying the deletion revision. */
  object: SimObject;
  /** The object before the change (undefined for ADDED). */
  prev: SimObject | undefined;
}

export interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

export interface ListQuery {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: SimObject[];
  resourceVersion: number;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  subresource?: string;
  dryRun?: boolean;
  /** Direct (test) writes keep .status as given; HTTP writes follow the registry's rules. */
  direct?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface StoreOptions {
  /** Keep at most this many changes; older ones are compacted away (default: unlimited). */
  historyLimit?: number;
  /** Pods bound to a node get a deletionTimestamp and stay until deleted with grace 0 (default false). */
  podGracefulDeletion?: boolean;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/** The NamespaceLifecycle admission plugin refuses to delete these. */
const PROTECTED_NAMESPACES = ['default', 'kube-system', 'kube-public'];

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, lastKey: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: `${lastKey}\u0000` };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || !Number.isInteger(t.rv) || typeof t.start !== 'string') throw new Error();
    return t;
  } catch {
    throw errors.badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
}

export function parseSelectors(resource: SimResource, labelSelector = '', fieldSelector = ''): Selectors {
  const fields = parseFieldSelector(fieldSelector);
  validateFieldSelector(fields, resource.fieldLabels);
  return { labels: parseLabelSelector(labelSelector), fields };
}

export function matches(sel: Selectors, obj: SimObject): boolean {
  return matchesLabels(sel.labels, obj.metadata.labels) && matchesFields(sel.fields, obj);
}

export function parseResourceVersion(rv: string): number {
  if (!/^\d+$/.test(rv))
    throw errors.badRequest(
      `Invalid value: "${rv}": resourceVersion: Invalid value: must be a non-negative integer`,
    );
  return Number(rv);
}

/** The pod's QoS class as the API server computes it from container requests and limits (CPU, memory). */
function qosClass(containers: Array<Record<string, unknown>>): string {
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const res = (c.resources ?? {}) as {
      requests?: Record<string, unknown>;
      limits?: Record<string, unknown>;
    };
    const req = res.requests ?? {};
    const lim = res.limits ?? {};
    for (const k of ['cpu', 'memory']) {
      if (req[k] !== undefined || lim[k] !== undefined) any = true;
      if (lim[k] === undefined || (req[k] !== undefined && String(req[k]) !== String(lim[k])))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export class SimStore {
  /** The newest revision (etcd's header revision). */
  rv = 0;
  /** Revisions at or below this are forgotten: older reads and watches get 410. */
  compactedRv = 0;
  private readonly objects = new Map<SimResource, Map<string, SimObject>>();
  private history: Change[] = [];
  private readonly listeners = new Set<(c: Change) => void>();
  private nextServiceIp = 10;
  /** Keys of each resource in etcd order, rebuilt lazily after an add or delete. */
  private readonly sortedKeys = new Map<SimResource, string[] | undefined>();

  constructor(private readonly opts: StoreOptions = {}) {
    for (const r of RESOURCES) this.objects.set(r, new Map());
    const ns = RESOURCES.find((r) => r.resource === 'namespaces')!;
    for (const name of DEFAULT_NAMESPACES) this.create(ns, '', { metadata: { name } }, { direct: true });
  }

  /** Receives every change synchronously, in revision order. */
  subscribe(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Forgets history up to `rv` (default: everything, i.e. the current revision). */
  compact(rv = this.rv): void {
    if (rv > this.rv) throw new Error(`simulator: cannot compact to ${rv}, newest revision is ${this.rv}`);
    if (rv <= this.compactedRv) return;
    this.compactedRv = rv;
    this.history = this.history.filter((c) => c.rv > rv);
  }

  /** Changes after `rv`, oldest first; 410 when they were compacted. */
  changesSince(rv: number): Change[] {
    this.assertNotCompacted(rv, 'watch');
    return this.history.filter((c) => c.rv > rv);
  }

  assertNotCompacted(rv: number, what: 'watch' | 'list'): void {
    if (rv < this.compactedRv) {
      throw errors.gone(
        what === 'watch'
          ? `too old resource version: ${rv} (${this.compactedRv})`
          : `The resourceVersion for the provided list is too old.`,
      );
    }
  }

  get(resource: SimResource, namespace: string, name: string): SimObject {
    const obj = this.objects.get(resource)!.get(objectKey(this.scope(resource, namespace), name));
    if (!obj) throw errors.notFound(resource.group, resource.resource, name);
    return clone(obj);
  }

  /**
   * The objects of a resource as they were at revision `rv` and their keys in etcd key order. At
   * the newest revision this is the live map itself: callers only read it.
   */
  private stateAt(resource: SimResource, rv: number): { state: Map<string, SimObject>; keys: string[] } {
    const live = this.objects.get(resource)!;
    if (rv >= this.rv) {
      let keys = this.sortedKeys.get(resource);
      if (!keys) {
        keys = [...live.keys()].sort();
        this.sortedKeys.set(resource, keys);
      }
      return { state: live, keys };
    }
    const m = new Map(live);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const c = this.history[i]!;
      if (c.rv <= rv) break;
      if (c.resource !== resource) continue;
      const key = objectKey(c.namespace, c.name);
      if (c.type === 'ADDED') m.delete(key);
      else m.set(key, c.prev!);
    }
    return { state: m, keys: [...m.keys()].sort() };
  }

  /**
   * A LIST with the API server's resourceVersion semantics. Callers wanting NotOlderThan a future
   * revision wait first (see Simulator); here a revision newer than the store is a 504.
   */
  list(resource: SimResource, q: ListQuery = {}, o: { clone?: boolean } = {}): ListResult {
    const sel = parseSelectors(resource, q.labelSelector, q.fieldSelector);
    const rvParam = q.resourceVersion ?? '';
    const match = q.resourceVersionMatch ?? '';
    let limit = q.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw errors.badRequest(`invalid limit: ${q.limit}`);
    if (match !== '' && match !== 'NotOlderThan' && match !== 'Exact') {
      throw errors.badRequest(
        `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`,
      );
    }
    if (match !== '' && rvParam === '') {
      throw errors.badRequest(
        'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
      );
    }
    if (match === 'Exact' && rvParam === '0') {
      throw errors.badRequest(
        'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
      );
    }
    let readRv = this.rv;
    let start = '';
    if (q.continue) {
      if (rvParam !== '' && rvParam !== '0') {
        throw errors.badRequest('specifying resource version is not allowed when using continue');
      }
      const t = decodeContinue(q.continue);
      if (t.rv < this.compactedRv) {
        throw errors.gone(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      readRv = t.rv;
      start = t.start;
    } else if (rvParam === '0') {
      // kube-apiserver 1.32 serves resourceVersion=0 from its watch cache, which ignores limit.
      limit = 0;
    } else if (rvParam !== '') {
      const want = parseResourceVersion(rvParam);
      const exact = match === 'Exact' || (match === '' && limit > 0);
      if (want > this.rv) {
        throw errors.timeout(`Too large resource version: ${want}, current: ${this.rv}`);
      }
      if (exact) {
        this.assertNotCompacted(want, 'list');
        readRv = want;
      }
    }
    const { state, keys } = this.stateAt(resource, readRv);
    const ns = q.namespace ? this.scope(resource, q.namespace) : '';
    const selected: string[] = [];
    for (const k of keys) {
      if (start && k < start) continue;
      const obj = state.get(k)!;
      if (ns && obj.metadata.namespace !== ns) continue;
      if (!matches(sel, obj)) continue;
      selected.push(k);
    }
    const page = limit > 0 ? selected.slice(0, limit) : selected;
    // Stored objects are never mutated after commit, so internal readers may skip the copy.
    const copy = o.clone === false ? (x: SimObject) => x : clone;
    const result: ListResult = { items: page.map((k) => copy(state.get(k)!)), resourceVersion: readRv };
    if (limit > 0 && selected.length > limit) {
      result.continue = encodeContinue(readRv, page[page.length - 1]!);
      if (sel.labels.length === 0 && sel.fields.length === 0)
        result.remainingItemCount = selected.length - limit;
    }
    return result;
  }

  create(resource: SimResource, namespace: string, input: SimObject, o: WriteOptions = {}): SimObject {
    if (!isPlainObject(input) || !isPlainObject(input.metadata)) {
      throw errors.badRequest(
        `${resource.kind} in version "${resource.version}" cannot be handled: metadata is required`,
      );
    }
    this.checkKind(resource, input);
    const obj = clone(input);
    const meta = obj.metadata;
    const ns = this.scope(resource, namespace || (meta.namespace ?? ''));
    if (resource.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      if (!ns) throw errors.badRequest('an empty namespace may not be set during creation');
      this.ensureNamespace(ns, o.direct === true);
      meta.namespace = ns;
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName)
      meta.name = meta.generateName + randomBytes(3).toString('hex').slice(0, 5);
    this.validateName(resource, meta.name);
    const name = meta.name!;
    const map = this.objects.get(resource)!;
    if (map.has(objectKey(ns, name))) throw errors.alreadyExists(resource.group, resource.resource, name);
    obj.apiVersion = groupVersion(resource);
    obj.kind = resource.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = kubeTime();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.resourceVersion;
    delete meta.selfLink;
    if (resource.resource === 'pods') meta.generation = 1;
    else delete meta.generation;
    this.defaultOnCreate(resource, obj, o.direct === true);
    if (o.dryRun) return obj;
    return this.commit('ADDED', resource, ns, name, obj, undefined);
  }

  update(
    resource: SimResource,
    namespace: string,
    name: string,
    input: SimObject,
    o: WriteOptions = {},
  ): SimObject {
    if (!isPlainObject(input) || !isPlainObject(input.metadata)) {
      throw errors.badRequest(
        `${resource.kind} in version "${resource.version}" cannot be handled: metadata is required`,
      );
    }
    this.checkKind(resource, input);
    const ns = this.scope(resource, namespace);
    if (input.metadata.name !== undefined && input.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the object (${input.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (resource.namespaced && input.metadata.namespace && input.metadata.namespace !== ns) {
      throw errors.badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const old = this.objects.get(resource)!.get(objectKey(ns, name));
    if (!old) {
      if (resource.createOnUpdate && !o.subresource) {
        return this.create(resource, ns, { ...input, metadata: { ...input.metadata, name } }, o);
      }
      throw errors.notFound(resource.group, resource.resource, name);
    }
    const uid = input.metadata.uid;
    if (uid && uid !== old.metadata.uid) {
      throw errors.conflict(
        resource.group,
        resource.resource,
        name,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    const rv = input.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) {
      throw errors.staleResourceVersion(resource.group, resource.resource, name);
    }
    let next: SimObject;
    if (o.subresource === 'status') {
      next = clone(old);
      if (input.status === undefined) delete next.status;
      else next.status = clone(input.status);
    } else {
      next = clone(input);
      next.metadata.name = name;
      if (resource.namespaced) next.metadata.namespace = ns;
      else delete next.metadata.namespace;
      // What the client cannot change: identity, creation, deletion state.
      next.metadata.uid = old.metadata.uid;
      next.metadata.creationTimestamp = old.metadata.creationTimestamp;
      for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
        if (old.metadata[k] === undefined) delete next.metadata[k];
        else next.metadata[k] = old.metadata[k] as never;
      }
      if (resource.subresources.includes('status') && !o.direct) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      if (old.metadata.generation !== undefined) {
        next.metadata.generation = deepEqual(old.spec, next.spec)
          ? old.metadata.generation
          : old.metadata.generation + 1;
      } else delete next.metadata.generation;
    }
    next.apiVersion = groupVersion(resource);
    next.kind = resource.kind;
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    // A write that changes nothing does not reach etcd: no new revision, no event.
    if (deepEqual(old, next)) return clone(old);
    if (o.dryRun) return next;
    if (
      next.metadata.deletionTimestamp &&
      !(next.metadata.finalizers?.length ?? 0) &&
      this.deletionDue(resource, next)
    ) {
      return this.removeAndCollect(resource, ns, name, old);
    }
    return this.commit('MODIFIED', resource, ns, name, next, old);
  }

  patch(
    resource: SimResource,
    namespace: string,
    name: string,
    contentType: string,
    patch: unknown,
    o: WriteOptions = {},
  ): SimObject {
    const current = this.get(resource, namespace, name);
    const patched = applyPatch(contentType, current, patch);
    if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) {
      throw errors.invalidPatch('the patch removed the object metadata');
    }
    return this.update(resource, namespace, name, patched as SimObject, o);
  }

  delete(resource: SimResource, namespace: string, name: string, d: DeleteOptions = {}): SimObject {
    const ns = this.scope(resource, namespace);
    const old = this.objects.get(resource)!.get(objectKey(ns, name));
    if (!old) throw errors.notFound(resource.group, resource.resource, name);
    const pre = d.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw errors.conflict(
        resource.group,
        resource.resource,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw errors.conflict(
        resource.group,
        resource.resource,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    if (resource.resource === 'namespaces' && PROTECTED_NAMESPACES.includes(name)) {
      throw new StatusError(
        403,
        'Forbidden',
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        {
          name,
          kind: 'namespaces',
        },
      );
    }
    if (d.dryRun) return clone(old);
    if (resource.resource === 'namespaces') return this.deleteNamespace(name, old);
    const grace = this.gracePeriod(resource, old, d.gracePeriodSeconds);
    const hasFinalizers = (old.metadata.finalizers?.length ?? 0) > 0;
    if (hasFinalizers || grace > 0) {
      const next = clone(old);
      if (!next.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = kubeTime(new Date(Date.now() + grace * 1000));
        next.metadata.deletionGracePeriodSeconds = grace;
      } else if (grace < (next.metadata.deletionGracePeriodSeconds ?? 0)) {
        next.metadata.deletionGracePeriodSeconds = grace;
      }
      if (!hasFinalizers && grace === 0)
        return this.removeAndCollect(resource, ns, name, old, d.propagationPolicy);
      if (deepEqual(old, next)) return clone(old);
      return this.commit('MODIFIED', resource, ns, name, next, old);
    }
    return this.removeAndCollect(resource, ns, name, old, d.propagationPolicy);
  }

  deleteCollection(
    resource: SimResource,
    namespace: string,
    q: ListQuery,
    d: DeleteOptions = {},
  ): SimObject[] {
    const { items } = this.list(resource, {
      namespace,
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
    });
    return items.map((o) =>
      this.delete(resource, o.metadata.namespace ?? '', o.metadata.name!, { ...d, preconditions: undefined }),
    );
  }

  private gracePeriod(resource: SimResource, obj: SimObject, requested: number | undefined): number {
    if (resource.resource !== 'pods' || !this.opts.podGracefulDeletion) return 0;
    const spec = (obj.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
    // Pods never scheduled, or already finished, go at once (as the pod registry decides).
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    return requested ?? spec.terminationGracePeriodSeconds ?? 30;
  }

  private deletionDue(resource: SimResource, obj: SimObject): boolean {
    return resource.resource !== 'pods' || (obj.metadata.deletionGracePeriodSeconds ?? 0) === 0;
  }

  private deleteNamespace(name: string, old: SimObject): SimObject {
    for (const r of RESOURCES) {
      if (!r.namespaced) continue;
      for (const [k, o] of [...this.objects.get(r)!]) {
        if (o.metadata.namespace === name) this.remove(r, name, k.slice(name.length + 1), o);
      }
    }
    const nsRes = RESOURCES.find((r) => r.resource === 'namespaces')!;
    const terminating = clone(old);
    terminating.metadata.deletionTimestamp = kubeTime();
    terminating.status = { phase: 'Terminating' };
    this.remove(nsRes, '', name, old);
    return terminating;
  }

  /**
   * Removes an object and does what the garbage collector would do with its dependents
   * (metadata.ownerReferences): delete them (Background, Foreground) or drop the reference (Orphan).
   */
  private removeAndCollect(
    resource: SimResource,
    ns: string,
    name: string,
    old: SimObject,
    policy = 'Background',
  ): SimObject {
    const uid = old.metadata.uid;
    if (policy === 'Foreground') this.collectDependents(uid, policy);
    const out = this.remove(resource, ns, name, old);
    if (policy !== 'Foreground') this.collectDependents(uid, policy);
    return out;
  }

  private collectDependents(uid: string | undefined, policy: string): void {
    if (!uid) return;
    for (const r of RESOURCES) {
      for (const obj of [...this.objects.get(r)!.values()]) {
        const refs = obj.metadata.ownerReferences as Array<{ uid?: string }> | undefined;
        if (!refs?.some((ref) => ref.uid === uid)) continue;
        const ns = obj.metadata.namespace ?? '';
        const name = obj.metadata.name!;
        if (policy === 'Orphan') {
          const next = clone(obj);
          const kept = refs.filter((ref) => ref.uid !== uid);
          if (kept.length) next.metadata.ownerReferences = kept;
          else delete next.metadata.ownerReferences;
          this.commit('MODIFIED', r, ns, name, next, obj);
        } else if (this.objects.get(r)!.has(objectKey(ns, name))) {
          this.delete(r, ns, name, { propagationPolicy: policy });
        }
      }
    }
  }

  private remove(resource: SimResource, ns: string, name: string, old: SimObject): SimObject {
    const gone = clone(old);
    this.commit('DELETED', resource, ns, name, gone, old);
    return clone(old);
  }

  private commit(
    type: ChangeType,
    resource: SimResource,
    ns: string,
    name: string,
    obj: SimObject,
    prev: SimObject | undefined,
  ): SimObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const map = this.objects.get(resource)!;
    if (type === 'DELETED') map.delete(objectKey(ns, name));
    else map.set(objectKey(ns, name), obj);
    if (type !== 'MODIFIED') this.sortedKeys.set(resource, undefined);
    const change: Change = { rv: this.rv, type, resource, namespace: ns, name, object: obj, prev };
    this.history.push(change);
    const limit = this.opts.historyLimit;
    if (limit !== undefined && this.history.length > limit) {
      const dropped = this.history.splice(0, this.history.length - limit);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const fn of this.listeners) fn(change);
    return clone(obj);
  }

  private scope(resource: SimResource, namespace: string): string {
    return resource.namespaced ? namespace : '';
  }

  private checkKind(resource: SimResource, obj: SimObject): void {
    if (obj.kind !== undefined && obj.kind !== resource.kind) {
      throw errors.badRequest(
        `the kind of the object (${obj.kind}) does not match the resource (${resource.kind})`,
      );
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(resource)) {
      throw errors.badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(resource)})`,
      );
    }
  }

  private validateName(resource: SimResource, name: string | undefined): void {
    if (!name) {
      throw new StatusError(
        422,
        'Invalid',
        `${resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        {
          kind: resource.kind,
          group: resource.group,
          causes: [
            {
              reason: 'FieldValueRequired',
              message: 'Required value: name or generateName is required',
              field: 'metadata.name',
            },
          ],
        },
      );
    }
    if (name.length > 253 || !NAME_RE.test(name)) {
      throw errors.invalid(
        resource.group,
        resource.kind,
        name,
        'metadata.name',
        `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      );
    }
  }

  private ensureNamespace(ns: string, autoCreate: boolean): void {
    const nsRes = RESOURCES.find((r) => r.resource === 'namespaces')!;
    const existing = this.objects.get(nsRes)!.get(objectKey('', ns));
    if (existing) {
      if (existing.metadata.deletionTimestamp) {
        throw new StatusError(
          403,
          'Forbidden',
          `unable to create new content in namespace ${ns} because it is being terminated`,
        );
      }
      return;
    }
    if (autoCreate) {
      this.create(nsRes, '', { metadata: { name: ns } }, { direct: true });
      return;
    }
    throw errors.notFound('', 'namespaces', ns);
  }

  /** The defaults and status resets the registries of these resources apply on create. */
  private defaultOnCreate(resource: SimResource, obj: SimObject, direct: boolean): void {
    const o = obj as Record<string, unknown> & SimObject;
    switch (resource.group === '' ? resource.resource : '') {
      case 'pods': {
        const spec = (o.spec ?? {}) as Record<string, unknown>;
        const containers = spec.containers;
        if (!Array.isArray(containers) || containers.length === 0) {
          throw errors.invalid('', 'Pod', obj.metadata.name!, 'spec.containers', 'Required value');
        }
        spec.restartPolicy ??= 'Always';
        spec.dnsPolicy ??= 'ClusterFirst';
        spec.schedulerName ??= 'default-scheduler';
        spec.terminationGracePeriodSeconds ??= 30;
        spec.enableServiceLinks ??= true;
        spec.securityContext ??= {};
        for (const c of containers as Array<Record<string, unknown>>) {
          if (typeof c.name !== 'string' || typeof c.image !== 'string') {
            throw errors.invalid(
              '',
              'Pod',
              obj.metadata.name!,
              'spec.containers',
              'name and image are required',
            );
          }
          const image = c.image;
          c.imagePullPolicy ??= image.includes(':') && !image.endsWith(':latest') ? 'IfNotPresent' : 'Always';
          c.terminationMessagePath ??= '/dev/termination-log';
          c.terminationMessagePolicy ??= 'File';
          c.resources ??= {};
        }
        o.spec = spec;
        if (!direct || o.status === undefined) {
          o.status = { phase: 'Pending', qosClass: qosClass(containers as Array<Record<string, unknown>>) };
        }
        break;
      }
      case 'namespaces':
        o.spec = { finalizers: ['kubernetes'] };
        o.status = { phase: 'Active' };
        obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name! };
        break;
      case 'services': {
        const spec = (o.spec ?? {}) as Record<string, unknown>;
        spec.type ??= 'ClusterIP';
        spec.sessionAffinity ??= 'None';
        if (spec.type !== 'ExternalName') {
          if (spec.clusterIP === undefined || spec.clusterIP === '') {
            const n = this.nextServiceIp++;
            spec.clusterIP = `10.96.${Math.floor(n / 256)}.${n % 256}`;
          }
          spec.clusterIPs ??= [spec.clusterIP];
          spec.ipFamilies ??= ['IPv4'];
          spec.ipFamilyPolicy ??= 'SingleStack';
          spec.internalTrafficPolicy ??= 'Cluster';
        }
        if (Array.isArray(spec.ports)) {
          for (const p of spec.ports as Array<Record<string, unknown>>) {
            p.protocol ??= 'TCP';
            p.targetPort ??= p.port;
          }
        }
        o.spec = spec;
        if (!direct || o.status === undefined) o.status = { loadBalancer: {} };
        break;
      }
      case 'secrets':
        o.type ??= 'Opaque';
        break;
    }
  }
}
