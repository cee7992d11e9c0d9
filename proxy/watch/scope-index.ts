/**
 * What the watchers of one shared watch have been told, per object: its resourceVersion, or the
 * version it was deleted at. It is the base of the relist diff after a 410 (list vs. what clients
 * hold) and of replays to watchers older than the event log (changed since x, deleted since x).
 * Names and versions only; bodies stay in the store.
 */
import { LRUCache } from 'lru-cache';
import { objectResourceVersion, parseResourceVersion } from '../resource-version.js';
import type { KubeObject } from '../types.js';

/**
 * Keys of different selectors over the same objects hold the same names and versions: 500 keys
 * over 5,000 pods are 2.5 million entries. Shared copies of recently loaded names and versions
 * make those entries point at 5,000 strings and versions instead of 2.5 million of each.
 */
const sharedNames = new LRUCache<string, string>({ max: 20_000 });
const sharedVersions = new LRUCache<string, bigint>({ max: 20_000 });

function shared(name: string): string {
  const s = sharedNames.get(name);
  if (s !== undefined) return s;
  sharedNames.set(name, name);
  return name;
}

function sharedVersion(rv: string): bigint | undefined {
  const v = sharedVersions.get(rv);
  if (v !== undefined) return v;
  const parsed = parseResourceVersion(rv);
  if (parsed !== undefined) sharedVersions.set(rv, parsed);
  return parsed;
}

export function objectName(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/**
 * Two maps of bare versions rather than one of small records: a key over 5,000 objects holds
 * 5,000 entries, and a record per entry was a third of the index's memory.
 */
export class ScopeIndex {
  /** Objects clients hold, with their version; `undefined`: the store holds a version newer than
   * what clients were told (treat as changed). */
  private readonly alive = new Map<string, bigint | undefined>();
  /** Objects clients were told are deleted, with the version of the deletion. */
  private readonly deleted = new Map<string, bigint>();

  constructor(private readonly maxTombstones = 50_000) {}

  /** Loads what the store holds for the scope at version `atRv` (objects newer are "unknown"). */
  static fromObjects(objects: KubeObject[], atRv: bigint | undefined, maxTombstones?: number): ScopeIndex {
    const idx = new ScopeIndex(maxTombstones);
    for (const o of objects) idx.alive.set(objectName(o), known(objectResourceVersion(o), atRv));
    return idx;
  }

  /** Like fromObjects, from the store's names and versions (no bodies parsed). */
  static fromVersions(
    rows: { name: string; rv: string }[],
    atRv: bigint | undefined,
    maxTombstones?: number,
  ): ScopeIndex {
    const idx = new ScopeIndex(maxTombstones);
    for (const r of rows) idx.alive.set(shared(r.name), known(sharedVersion(r.rv), atRv));
    return idx;
  }

  get size(): number {
    return this.alive.size + this.deleted.size;
  }

  has(name: string): boolean {
    return this.alive.has(name);
  }

  liveVersion(name: string): bigint | undefined {
    return this.alive.get(name);
  }

  set(name: string, rv: bigint | undefined): void {
    this.deleted.delete(name);
    this.alive.set(name, rv);
  }

  /**
   * Records a deletion. Returns the version below which deletions are no longer all known when
   * old tombstones had to be dropped to stay bounded (the replay floor moves up to it).
   */
  delete(name: string, rv: bigint): bigint | undefined {
    if (this.deleted.has(name)) return undefined;
    this.alive.delete(name);
    this.deleted.set(name, rv);
    return this.deleted.size > this.maxTombstones ? this.pruneTombstones() : undefined;
  }

  /** Objects clients were told about and that still exist (with their version if known). */
  live(): Map<string, bigint | undefined> {
    return new Map(this.alive);
  }

  /** What changed after x: live objects with a newer (or unknown) version, deletions after x. */
  changedSince(x: bigint): { changed: string[]; deleted: { name: string; rv: bigint }[] } {
    const changed: string[] = [];
    const deleted: { name: string; rv: bigint }[] = [];
    for (const [name, rv] of this.alive) if (rv === undefined || rv > x) changed.push(name);
    for (const [name, rv] of this.deleted) if (rv > x) deleted.push({ name, rv });
    return { changed, deleted };
  }

  private pruneTombstones(): bigint {
    const dead = [...this.deleted].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const drop = dead.slice(0, Math.ceil(dead.length / 2));
    for (const [n] of drop) this.deleted.delete(n);
    return drop[drop.length - 1]![1];
  }
}

/** A version clients were told, or undefined when the store's is newer than `atRv`. */
function known(rv: bigint | undefined, atRv: bigint | undefined): bigint | undefined {
  return atRv === undefined || rv === undefined || rv > atRv ? undefined : rv;
}

export interface ListDiff {
  added: KubeObject[];
  modified: KubeObject[];
  /** Names (namespace/name) clients hold that the list no longer has. */
  deleted: string[];
}

/** The changes that turn what clients hold into the listed state (the relist after a 410). */
export function diffList(held: Map<string, bigint | undefined>, items: KubeObject[]): ListDiff {
  const added: KubeObject[] = [];
  const modified: KubeObject[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const name = objectName(item);
    seen.add(name);
    if (!held.has(name)) added.push(item);
    else {
      const was = held.get(name);
      const now = objectResourceVersion(item);
      if (was === undefined || now === undefined || was !== now) modified.push(item);
    }
  }
  const deleted = [...held.keys()].filter((n) => !seen.has(n));
  return { added, modified, deleted };
}
