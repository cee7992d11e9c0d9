/**
 * Views and grants: what each identity was allowed to read upstream. A view is what one identity
 * listed (identity, gvr, namespace, selectors) with the list's resourceVersion and whether the
 * store holds all of it; a grant is one object an identity read (or wrote) upstream. Offline, an
 * identity is answered only from its own views and grants (design.md, "Proxy cache").
 *
 * A complete view's resourceVersion is the version up to which the store holds every change of its
 * scope: a watch resumed from it misses nothing. A list sets it; a watch of the same key moves it
 * up, but only while the store holds every change of the scope since a version the view was
 * complete at. It never follows the resource's newest version, which other keys (another namespace
 * or selector) may have moved past changes this scope has not seen.
 */
import { apiVersionOf, resourceFacts } from '../gvr.js';
import { compareRv } from '../resource-version.js';
import {
  type FieldSelector,
  fieldSelectorCovers,
  fieldValues,
  type LabelSelector,
  labelSelectorCovers,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from '../selectors.js';
import type { Gvr, KubeObject, ListEnvelope, ViewKey, ViewState } from '../types.js';
import type { History } from './history.js';
import { inScope, type ObjectRows } from './objects.js';
import type { IndexRow, Tables, ViewRow } from './tables.js';

export class Views {
  constructor(
    private readonly objects: ObjectRows,
    private readonly history: History,
  ) {}

  /**
   * Completes a view from a list whose items are stored: what the scope held and `names` lacks is
   * gone, history is complete from the list on, the view is complete at the list's RV.
   */
  complete(t: Tables, view: ViewKey, envelope: ListEnvelope, names: ReadonlySet<string>): void {
    const { gvr } = view;
    const listRv = envelope.metadata?.resourceVersion ?? '';
    this.objects.removeMissing(t, view, names, listRv);
    this.history.advance(t, gvr, listRv);
    this.history.completeFrom(t, gvr, listRv);
    // A list older than what the view already covers (two clients' LISTs landing out of order)
    // changes no object the newer state holds (versions never go back, tombstones guard
    // deletions), so the view stays complete at the newer version.
    const held = t.viewGet.get(...viewColumns(view));
    const covered = held?.complete === 1 && compareRv(held.list_rv, listRv) === 1 ? held.list_rv : listRv;
    t.viewPut.run(
      ...viewColumns(view),
      1,
      covered,
      envelope.kind || resourceFacts(gvr)?.listKind || '',
      envelope.apiVersion || apiVersionOf(gvr),
      Date.now(),
    );
  }

  /**
   * The store now holds every change of the view's scope up to `to`, having applied each one since
   * `since`: a complete view at a version in [since, to) is complete at `to` (with a gap between
   * its version and `since`, nothing is known of the changes in it, and the view stays).
   */
  covered(t: Tables, view: ViewKey, since: string, to: string): void {
    const cols = viewColumns(view);
    const held = t.viewGet.get(...cols);
    if (held?.complete !== 1) return;
    const sinceThen = compareRv(held.list_rv, since);
    if (sinceThen === undefined || sinceThen < 0 || compareRv(held.list_rv, to) !== -1) return;
    t.viewCovered.run(to, Date.now(), ...cols);
  }

  markIncomplete(t: Tables, view: ViewKey): void {
    t.viewIncomplete.run(Date.now(), ...viewColumns(view));
    // Whatever was lost may include deletions: history is no longer reconstructable from here.
    this.history.forget(t, view.gvr);
  }

  /** Every view of the gvr (a dropped watch event may have touched any of them). */
  markGvrIncomplete(t: Tables, gvr: Gvr): void {
    t.viewsIncompleteGvr.run(Date.now(), gvr.group, gvr.version, gvr.resource);
    this.history.forget(t, gvr);
  }

  /** A complete view of this identity whose scope covers the request: the exact one first. */
  findCovering(t: Tables, view: ViewKey): ViewState | undefined {
    const { gvr } = view;
    let lsel: LabelSelector;
    let fsel: FieldSelector;
    try {
      lsel = parseLabelSelector(view.labelSelector);
      fsel = parseFieldSelector(view.fieldSelector);
    } catch (err) {
      if (err instanceof SelectorError) return undefined;
      throw err;
    }
    const rows = t.viewsOf.all(view.identity, gvr.group, gvr.version, gvr.resource);
    let best: ViewRow | undefined;
    for (const r of rows) {
      if (r.complete !== 1) continue;
      if (r.ns !== '' && r.ns !== view.namespace) continue;
      try {
        if (!labelSelectorCovers(r.lsel, lsel) || !fieldSelectorCovers(r.fsel, fsel)) continue;
      } catch (err) {
        if (err instanceof SelectorError) continue;
        throw err;
      }
      const exact = r.ns === view.namespace && r.lsel === view.labelSelector && r.fsel === view.fieldSelector;
      if (exact) return viewState(r);
      best ??= r;
    }
    return best ? viewState(best) : undefined;
  }

  /** Every view of an identity for a gvr, complete or not. */
  all(t: Tables, identity: string, gvr: Gvr): ViewState[] {
    return t.viewsOf.all(identity, gvr.group, gvr.version, gvr.resource).map(viewState);
  }

  /** Records that an identity read this object upstream, so it may read it offline too. */
  grant(t: Tables, identity: string, gvr: Gvr, ns: string, name: string): void {
    t.grantPut.run(identity, gvr.group, gvr.version, gvr.resource, ns, name);
  }

  /** Whether the identity may read the object offline: a grant, or one of its views holds it. */
  mayRead(t: Tables, identity: string, gvr: Gvr, obj: KubeObject): boolean {
    const ns = obj.metadata.namespace ?? '';
    if ((t.grantGet.get(identity, gvr.group, gvr.version, gvr.resource, ns, obj.metadata.name)?.n ?? 0) > 0)
      return true;
    const row: IndexRow = {
      ns,
      name: obj.metadata.name,
      rv: '',
      labels: JSON.stringify(obj.metadata.labels ?? {}),
      fields: JSON.stringify(fieldValues(obj, gvr)),
    };
    for (const v of t.viewsOf.all(identity, gvr.group, gvr.version, gvr.resource)) {
      if (v.ns !== '' && v.ns !== ns) continue;
      try {
        if (inScope(row, parseLabelSelector(v.lsel), parseFieldSelector(v.fsel))) return true;
      } catch (err) {
        if (!(err instanceof SelectorError)) throw err;
      }
    }
    return false;
  }
}

/** A view's key columns in the views table, in their order. */
function viewColumns(view: ViewKey): string[] {
  const { gvr } = view;
  return [
    view.identity,
    gvr.group,
    gvr.version,
    gvr.resource,
    view.namespace,
    view.labelSelector,
    view.fieldSelector,
  ];
}

function viewState(r: ViewRow): ViewState {
  return {
    identity: r.identity,
    gvr: { group: r.grp, version: r.ver, resource: r.res },
    namespace: r.ns,
    labelSelector: r.lsel,
    fieldSelector: r.fsel,
    complete: r.complete === 1,
    listResourceVersion: r.list_rv,
    listKind: r.list_kind,
    listApiVersion: r.list_api_version,
    updatedAt: r.updated_at,
  };
}
