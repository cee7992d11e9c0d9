/**
 * What the store can replay to a watcher resuming from an older resourceVersion: per resource the
 * newest version it holds and the floor from which its history is complete, and a bounded number
 * of tombstones (deleted objects in their last state).
 *
 * The floor is set by the first complete list, raised when tombstones are pruned, and cleared when
 * changes were lost (a view marked incomplete) until the next complete list.
 */
import type { Statement } from 'better-sqlite3';
import { compareRv, isNumericRv, newerRv, rvNumber } from '../resource-version.js';
import type { Gvr, KubeObject, Tombstone } from '../types.js';
import type { Tables } from './tables.js';

/** A deletion to remember: where, at which version, and the object as it was last known. */
export interface Deletion {
  ns: string;
  name: string;
  uid: string;
  rv: string;
  /** The newest version the deletion covers: later arrivals of versions up to it are stale. */
  guardRv: string;
  last: KubeObject;
}

export class History {
  /** Tombstones inserted per (schema, resource) since the last prune check. */
  private readonly inserts = new Map<string, number>();

  constructor(private readonly maxTombstones: number) {}

  /** The file was replaced: its counters went with it. */
  reset(): void {
    this.inserts.clear();
  }

  /** Newest resourceVersion held for the gvr ('' if none). */
  resourceVersion(t: Tables, gvr: Gvr): string {
    return t.resGet.get(gvr.group, gvr.version, gvr.resource)?.rv ?? '';
  }

  floor(t: Tables, gvr: Gvr): string {
    return t.resGet.get(gvr.group, gvr.version, gvr.resource)?.floor ?? '';
  }

  advance(t: Tables, gvr: Gvr, rv: string): void {
    if (!rv) return;
    const cur = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    const next = newerRv(cur?.rv ?? '', rv);
    if (cur && next === cur.rv) return;
    t.resPut.run(gvr.group, gvr.version, gvr.resource, next, cur?.floor ?? '', Date.now());
  }

  /** A complete list at `listRv`: history is complete from there on, unless it already was. */
  completeFrom(t: Tables, gvr: Gvr, listRv: string): void {
    const res = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    if (res && res.floor === '' && listRv) {
      t.resPut.run(gvr.group, gvr.version, gvr.resource, res.rv, listRv, Date.now());
    }
  }

  /** Changes were lost (maybe deletions): history cannot be reconstructed until the next complete list. */
  forget(t: Tables, gvr: Gvr): void {
    const cur = t.resGet.get(gvr.group, gvr.version, gvr.resource);
    if (cur && cur.floor !== '') t.resPut.run(gvr.group, gvr.version, gvr.resource, cur.rv, '', Date.now());
  }

  /** The newest version the last deletion of an object covers; undefined when none is remembered. */
  deletionGuard(t: Tables, gvr: Gvr, ns: string, name: string): string | undefined {
    return t.tombGuard.get(gvr.group, gvr.version, gvr.resource, ns, name)?.guard_rv;
  }

  /** Remembers a deletion at `d.rv` (guarded up to `d.guardRv`) with the object's last state. */
  recordDeletion(t: Tables, gvr: Gvr, d: Deletion): void {
    t.tombInsert.run(
      gvr.group,
      gvr.version,
      gvr.resource,
      d.ns,
      d.name,
      d.uid,
      d.rv,
      rvNumber(d.rv),
      d.guardRv,
      Buffer.from(JSON.stringify(d.last)),
      Date.now(),
    );
    this.advance(t, gvr, d.rv);
    this.maybePrune(t, gvr);
  }

  /** Deletions newer than `resourceVersion`, oldest first. */
  tombstonesSince(t: Tables, gvr: Gvr, resourceVersion: string): Tombstone[] {
    return newerRows(t.tombAll, t.tombSince, gvr, resourceVersion).map((r) => ({
      namespace: r.ns,
      name: r.name,
      uid: r.uid,
      resourceVersion: r.rv,
      object: JSON.parse(r.body.toString('utf8')) as KubeObject,
    }));
  }

  /** Objects whose resourceVersion is newer than `resourceVersion`, oldest first. */
  objectsNewerThan(t: Tables, gvr: Gvr, resourceVersion: string): KubeObject[] {
    return newerRows(t.allByRv, t.newer, gvr, resourceVersion).map(
      (r) => JSON.parse(r.body.toString('utf8')) as KubeObject,
    );
  }

  /** Keeps at most maxTombstones per resource; checked every few deletions to stay cheap. */
  private maybePrune(t: Tables, gvr: Gvr): void {
    const k = `${t.schema}/${gvr.group}/${gvr.version}/${gvr.resource}`;
    const n = (this.inserts.get(k) ?? 0) + 1;
    const every = Math.max(1, Math.min(256, Math.floor(this.maxTombstones / 4)));
    if (n < every) {
      this.inserts.set(k, n);
      return;
    }
    this.inserts.set(k, 0);
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const cut = t.tombCut.get(...g, this.maxTombstones);
    if (!cut) return;
    const prunedRv = t.tombPrunedMaxRv.get(...g, cut.seq)?.rv ?? '';
    t.tombPrune.run(...g, cut.seq);
    // Deletions up to prunedRv can no longer be replayed: history starts after them.
    const res = t.resGet.get(...g);
    if (res && res.floor !== '' && compareRv(prunedRv, res.floor) !== -1) {
      t.resPut.run(...g, res.rv, isNumericRv(prunedRv) ? prunedRv : '', Date.now());
    }
  }
}

/**
 * The gvr's rows newer than `resourceVersion` (`after` takes it as an integer), or all of them
 * (`all`) when it is not a number SQLite can compare: nothing can be assumed older then.
 */
function newerRows<R>(
  all: Statement<unknown[], R>,
  after: Statement<unknown[], R>,
  gvr: Gvr,
  resourceVersion: string,
): R[] {
  const since = rvNumber(resourceVersion);
  const g = [gvr.group, gvr.version, gvr.resource] as const;
  return since === null ? all.all(...g) : after.all(...g, since);
}
