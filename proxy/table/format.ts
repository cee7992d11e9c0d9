/** Cell formatting shared by the printers, as in kube-apiserver's printers and apimachinery. */

// biome-ignore lint/suspicious/noExplicitAny: printers read arbitrary Kubernetes JSON.
export type Json = any;

/** labels.FormatLabels: "k=v,k2=v2" sorted by key; "<none>" when empty. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/**
 * LabelSelectorAsSelector(...).String(): requirements sorted by key; undefined when the selector
 * is not valid (an unknown operator).
 */
export function selectorString(sel: Json): string | undefined {
  if (!sel) return '';
  const reqs: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>))
    reqs.push({ key, text: `${key}=${value}` });
  for (const e of (sel.matchExpressions ?? []) as Json[]) {
    const values = [...new Set<string>(e.values ?? [])].sort().join(',');
    const key = String(e.key);
    switch (e.operator) {
      case 'In':
        reqs.push({ key, text: `${key} in (${values})` });
        break;
      case 'NotIn':
        reqs.push({ key, text: `${key} notin (${values})` });
        break;
      case 'Exists':
        reqs.push({ key, text: key });
        break;
      case 'DoesNotExist':
        reqs.push({ key, text: `!${key}` });
        break;
      default:
        return undefined;
    }
  }
  // Stable: matchLabels before matchExpressions of the same key, as Go's sort of the requirements.
  return reqs
    .map((r, i) => ({ ...r, i }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i))
    .map((r) => r.text)
    .join(',');
}

/** metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for an invalid one. */
export function formatLabelSelector(sel: Json): string {
  const s = selectorString(sel);
  if (s === undefined) return '<error>';
  return s === '' ? '<none>' : s;
}

/** layoutContainerCells: container names and images, comma-joined. */
export function containerCells(containers: Json[] | undefined): [string, string] {
  const list = containers ?? [];
  return [list.map((c) => c.name ?? '').join(','), list.map((c) => c.image ?? '').join(',')];
}

/** Go's zero value for an absent integer field. */
export function int(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
