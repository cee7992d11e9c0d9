/**
 * The object rows: each object once per (group, version, resource, namespace, name), its JSON bytes
 * as upstream sent them plus the metadata clients select on (labels, field-selector fields,
 * spec.nodeName), so scopes are filtered without parsing bodies.
 *
 * resourceVersions never go backwards for an object: an older version arriving late (a LIST racing
 * a watch) is ignored, and so is an older version of an object already deleted (tombstone guard).
 */
import type { LRUCache } from 'lru-cache';
import { apiVersionOf, resourceFacts } from '../gvr.js';
import { compareRv, newerRv, rvNumber } from '../resource-version.js';
import {
  type FieldSelector,
  fieldValues,
  type LabelSelector,
  matchesFieldValues,
  matchesLabelSelector,
  parseFieldSelector,
  parseLabelSelector,
  supportedFields,
} from '../selectors.js';
import type { Gvr, KubeObject, ListEnvelope, ListItem, Scope, StoreCursor, StoredEntry } from '../types.js';
import type { History } from './history.js';
import { type BodyRow, type IndexRow, lruKey, type Tables } from './tables.js';

export class ObjectRows {
  constructor(
    /** Committed JSON texts of hot objects; invalidated on every write, filled on reads. */
    private readonly lru: LRUCache<string, string>,
    private readonly history: History,
  ) {}

  /** The stored JSON text; kept in the LRU only when `committed` (a read outside any transaction). */
  bodyText(t: Tables, gvr: Gvr, ns: string, name: string, committed: boolean): string | undefined {
    const key = lruKey(t, gvr, ns, name);
    const hit = this.lru.get(key);
    if (hit !== undefined) return hit;
    const row = t.getBody.get(gvr.group, gvr.version, gvr.resource, ns, name);
    if (!row) return undefined;
    const text = row.body.toString('utf8');
    if (committed) this.lru.set(key, text);
    return text;
  }

  /** The resourceVersion held for an object, without reading its body; undefined when not held. */
  resourceVersionOf(t: Tables, gvr: Gvr, ns: string, name: string): string | undefined {
    return t.getRv.get(gvr.group, gvr.version, gvr.resource, ns, name)?.rv;
  }

  /** Inserts or replaces an object unless the held state (or its deletion) is newer. */
  upsert(t: Tables, gvr: Gvr, obj: KubeObject, advance = true, json?: string): void {
    const m = obj.metadata;
    const ns = m.namespace ?? '';
    const rv = m.resourceVersion ?? '';
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const held = t.getRv.get(...g, ns, m.name);
    if (held) {
      const c = compareRv(rv, held.rv);
      if (c !== undefined && c <= 0) return;
    } else {
      const guard = this.history.deletionGuard(t, gvr, ns, m.name);
      const c = guard === undefined ? undefined : compareRv(rv, guard);
      if (c !== undefined && c <= 0) return;
    }
    // Upstream's bytes end with a newline (the API server's encoder writes one): stored as is, it
    // would split the watch event line the object is later framed into.
    const text = json === undefined ? JSON.stringify(obj) : json.trim();
    const fields = fieldValues(obj, gvr);
    t.upsert.run(
      ...g,
      ns,
      m.name,
      m.uid ?? '',
      rv,
      rvNumber(rv),
      JSON.stringify(m.labels ?? {}),
      JSON.stringify(fields),
      fields['spec.nodeName'] ?? '',
      Buffer.from(text),
      Date.now(),
    );
    // Invalidate rather than fill: a rollback must not leave an uncommitted version cached.
    this.lru.delete(lruKey(t, gvr, ns, m.name));
    if (advance) this.history.advance(t, gvr, rv);
  }

  /**
   * A list's items, with kind and apiVersion filled in from the list where they lack them; returns
   * their "namespace/name" keys.
   */
  upsertItems(
    t: Tables,
    gvr: Gvr,
    envelope: ListEnvelope,
    items: Iterable<ListItem>,
    advance: boolean,
  ): Set<string> {
    const itemKind = envelope.kind?.endsWith('List') ? envelope.kind.slice(0, -4) : resourceFacts(gvr)?.kind;
    const itemApiVersion = envelope.apiVersion || apiVersionOf(gvr);
    const names = new Set<string>();
    for (const { object, text } of items) {
      checkObject(object);
      // List items come without kind/apiVersion; stored objects carry them (offline GET answers them),
      // first, as the API server encodes a typed object (watch events built from these must match).
      const missing = [
        ...(object.kind || !itemKind ? [] : [['kind', itemKind] as const]),
        ...(object.apiVersion ? [] : [['apiVersion', itemApiVersion] as const]),
      ];
      if (missing.length === 0) this.upsert(t, gvr, object, advance, text);
      else {
        const filled = { ...Object.fromEntries(missing), ...object } as KubeObject;
        this.upsert(t, gvr, filled, advance, text === undefined ? undefined : withKeys(text, missing));
      }
      names.add(`${object.metadata.namespace ?? ''}/${object.metadata.name}`);
    }
    return names;
  }

  /**
   * Removes an object, leaving a tombstone at `rv` (the deletion's RV, or a relist's). `guardRv`
   * is the newest RV the deletion covers: later arrivals of versions up to it are stale.
   */
  delete(
    t: Tables,
    gvr: Gvr,
    ns: string,
    name: string,
    rv: string,
    guardRv: string,
    lastState: KubeObject | undefined,
  ): void {
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const held = t.getRow.get(...g, ns, name);
    // A delete older than what we hold is about an earlier incarnation of a recreated object.
    if (held && compareRv(rv, held.rv) === -1) return;
    if (!held && !rv) return;
    const deletionRv = rv || newerRv(held?.rv ?? '', this.history.resourceVersion(t, gvr));
    let last: KubeObject =
      lastState ??
      (held ? (JSON.parse(held.body.toString('utf8')) as KubeObject) : minimalObject(gvr, ns, name));
    last = { ...last, metadata: { ...last.metadata, resourceVersion: deletionRv } };
    if (held) {
      t.del.run(...g, ns, name);
      this.lru.delete(lruKey(t, gvr, ns, name));
    }
    this.history.recordDeletion(t, gvr, {
      ns,
      name,
      uid: last.metadata.uid ?? held?.uid ?? '',
      rv: deletionRv,
      guardRv: guardRv || deletionRv,
      last,
    });
  }

  /**
   * What the scope holds and a complete list at `listRv` lacks is gone (or left the scope), unless
   * it is newer than the list (a watch event that overtook the list). Its tombstone is at the
   * list's RV, guarded by the object's own, so the event that moved it out still lands.
   */
  removeMissing(t: Tables, scope: Scope, names: ReadonlySet<string>, listRv: string): void {
    const lsel = parseLabelSelector(scope.labelSelector);
    const fsel = parseFieldSelector(scope.fieldSelector);
    for (const row of scopeRows(t, scope.gvr, scope.namespace)) {
      if (names.has(`${row.ns}/${row.name}`)) continue;
      if (!inScope(row, lsel, fsel)) continue;
      if (compareRv(row.rv, listRv) === 1) continue;
      this.delete(t, scope.gvr, row.ns, row.name, listRv, row.rv, undefined);
    }
  }

  /**
   * The scope's objects as stored JSON texts, in "namespace/name" order. Selectors are validated
   * against the resource: SelectorError.
   */
  entries(t: Tables, scope: Scope): StoredEntry[] {
    const { gvr, namespace } = scope;
    const lsel = parseLabelSelector(scope.labelSelector);
    const fsel = parseFieldSelector(scope.fieldSelector, gvr);
    const node = nodeNameFilter(gvr, fsel);
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    let rows: BodyRow[];
    if (node !== undefined)
      rows = namespace ? t.listNsNode.all(...g, node, namespace) : t.listNode.all(...g, node);
    else rows = namespace ? t.listNs.all(...g, namespace) : t.listAll.all(...g);
    const out: StoredEntry[] = [];
    for (const r of rows)
      if (inScope(r, lsel, fsel)) out.push({ namespace: r.ns, name: r.name, text: r.body.toString('utf8') });
    return out;
  }

  /**
   * One page of `entries`: up to `limit` rows of the namespace are read after `after` (the cursor of
   * the previous page), those in scope returned as stored texts. `next` is undefined at the end.
   */
  page(
    t: Tables,
    scope: Scope,
    after: StoreCursor | undefined,
    limit: number,
  ): { texts: string[]; next: StoreCursor | undefined } {
    const { gvr, namespace } = scope;
    const lsel = parseLabelSelector(scope.labelSelector);
    const fsel = parseFieldSelector(scope.fieldSelector, gvr);
    const g = [gvr.group, gvr.version, gvr.resource] as const;
    const rows = namespace
      ? t.pageNs.all(...g, namespace, after?.name ?? '', limit)
      : t.pageAll.all(...g, after?.namespace ?? '', after?.name ?? '', limit);
    const texts: string[] = [];
    for (const r of rows) if (inScope(r, lsel, fsel)) texts.push(r.body.toString('utf8'));
    const last = rows[rows.length - 1];
    return {
      texts,
      next: rows.length < limit || !last ? undefined : { namespace: last.ns, name: last.name },
    };
  }

  /** "namespace/name" and resourceVersion of the scope's objects, without their bodies. */
  versions(t: Tables, scope: Scope): { name: string; rv: string }[] {
    const lsel = parseLabelSelector(scope.labelSelector);
    const fsel = parseFieldSelector(scope.fieldSelector, scope.gvr);
    const out: { name: string; rv: string }[] = [];
    for (const r of scopeRows(t, scope.gvr, scope.namespace))
      if (inScope(r, lsel, fsel)) out.push({ name: `${r.ns}/${r.name}`, rv: r.rv });
    return out;
  }
}

export function checkObject(obj: KubeObject): void {
  if (
    !obj ||
    typeof obj !== 'object' ||
    !obj.metadata ||
    typeof obj.metadata.name !== 'string' ||
    !obj.metadata.name
  ) {
    throw new Error('cache: object without metadata.name');
  }
}

/** Whether a row (its stored labels and field values) matches the selectors. */
export function inScope(row: IndexRow, lsel: LabelSelector, fsel: FieldSelector): boolean {
  if (lsel.requirements.length && !matchesLabelSelector(JSON.parse(row.labels), lsel)) return false;
  if (fsel.requirements.length && !matchesFieldValues(JSON.parse(row.fields), fsel)) return false;
  return true;
}

function scopeRows(t: Tables, gvr: Gvr, namespace: string): IndexRow[] {
  return namespace
    ? t.scopeNs.all(gvr.group, gvr.version, gvr.resource, namespace)
    : t.scopeAll.all(gvr.group, gvr.version, gvr.resource);
}

/** `text` (a JSON object) with `keys` added in front: the stored bytes match the filled-in object. */
function withKeys(text: string, keys: readonly (readonly [string, string])[]): string {
  const open = text.indexOf('{');
  const added = keys.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('');
  return `{${added}${text.slice(open + 1)}`;
}

/** spec.nodeName=X on pods narrows the scan to the node index (kubelet's own pod list). */
function nodeNameFilter(gvr: Gvr, fsel: FieldSelector): string | undefined {
  if (!supportedFields(gvr).includes('spec.nodeName')) return undefined;
  return fsel.requirements.find((r) => r.field === 'spec.nodeName' && r.op === '=')?.value;
}

function minimalObject(gvr: Gvr, ns: string, name: string): KubeObject {
  const kind = resourceFacts(gvr)?.kind;
  return {
    apiVersion: apiVersionOf(gvr),
    ...(kind ? { kind } : {}),
    metadata: ns ? { name, namespace: ns } : { name },
  };
}
