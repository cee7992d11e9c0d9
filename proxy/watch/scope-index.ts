/**
 * What the watchers of one shared watch have been told, per object: its resourceVersion, or the
 * version it was deleted at. It is the base of the relist diff after a 410 (list vs. what clients
 * hold) and of replays to watchers older than the event log (changed since x, deleted since x).
 * Names and versions only; bodies stay in the store.
 */
import type { KubeObject } from '../types.js';
import { objectResourceVersion, parseResourceVersion } from './resource-version.js';

/** `undefined` rv: the store holds a version newer than what clients were told; treat as changed. */
interface Entry {
  rv: bigint | undefined;
  deletedRv?: bigint;
}

export function objectName(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class ScopeIndex {
  private readonly entries = new Map<string, Entry>();
  private tombstones = 0;

  constructor(private readonly maxTombstones = 50_000) {}

  /** Loads what the store holds for the scope at version `atRv` (objects newer are "unknown"). */
  static fromObjects(objects: KubeObject[], atRv: bigint | undefined, maxTombstones?: number): ScopeIndex {
    const idx = new ScopeIndex(maxTombstones);
    for (const o of objects) {
      const rv = objectResourceVersion(o);
      idx.entries.set(objectName(o), {
        rv: atRv === undefined || rv === undefined || rv > atRv ? undefined : rv,
      });
    }
    return idx;
  }

  /** Like fromObjects, from the store's names and versions (no bodies parsed). */
  static fromVersions(
    rows: { name: string; rv: string }[],
    atRv: bigint | undefined,
    maxTombstones?: number,
  ): ScopeIndex {
    const idx = new ScopeIndex(maxTombstones);
    for (const r of rows) {
      const rv = parseResourceVersion(r.rv);
      idx.entries.set(r.name, { rv: atRv === undefined || rv === undefined || rv > atRv ? undefined : rv });
    }
    return idx;
  }

  get size(): number {
    return this.entries.size;
  }

  has(name: string): boolean {
    const e = this.entries.get(name);
    return e !== undefined && e.deletedRv === undefined;
  }

  liveVersion(name: string): bigint | undefined {
    const e = this.entries.get(name);
    return e && e.deletedRv === undefined ? e.rv : undefined;
  }

  set(name: string, rv: bigint | undefined): void {
    const e = this.entries.get(name);
    if (e?.deletedRv !== undefined) this.tombstones--;
    this.entries.set(name, { rv });
  }

  /**
   * Records a deletion. Returns the version below which deletions are no longer all known when
   * old tombstones had to be dropped to stay bounded (the replay floor moves up to it).
   */
  delete(name: string, rv: bigint): bigint | undefined {
    const e = this.entries.get(name);
    if (e?.deletedRv !== undefined) return undefined;
    this.entries.set(name, { rv, deletedRv: rv });
    this.tombstones++;
    return this.tombstones > this.maxTombstones ? this.pruneTombstones() : undefined;
  }

  /** Objects clients were told about and that still exist (with their version if known). */
  live(): Map<string, bigint | undefined> {
    const out = new Map<string, bigint | undefined>();
    for (const [n, e] of this.entries) if (e.deletedRv === undefined) out.set(n, e.rv);
    return out;
  }

  /** What changed after x: live objects with a newer (or unknown) version, deletions after x. */
  changedSince(x: bigint): { changed: string[]; deleted: { name: string; rv: bigint }[] } {
    const changed: string[] = [];
    const deleted: { name: string; rv: bigint }[] = [];
    for (const [name, e] of this.entries) {
      if (e.deletedRv !== undefined) {
        if (e.deletedRv > x) deleted.push({ name, rv: e.deletedRv });
      } else if (e.rv === undefined || e.rv > x) changed.push(name);
    }
    return { changed, deleted };
  }

  private pruneTombstones(): bigint {
    const dead = [...this.entries].filter(([, e]) => e.deletedRv !== undefined);
    dead.sort((a, b) => (a[1].deletedRv! < b[1].deletedRv! ? -1 : 1));
    const drop = dead.slice(0, Math.ceil(dead.length / 2));
    for (const [n] of drop) this.entries.delete(n);
    this.tombstones -= drop.length;
    return drop[drop.length - 1]![1].deletedRv!;
  }
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
