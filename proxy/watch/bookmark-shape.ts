/**
 * The object of a BOOKMARK event as kube-apiserver writes it. The server encodes an empty object of
 * the watched type with only metadata.resourceVersion (and annotations) set, so a built-in kind
 * carries the fields its Go type encodes even when empty (a Pod bookmark has
 * `"spec":{"containers":null},"status":{}`), in the order kind, apiVersion, metadata, fields; a
 * custom resource is unstructured and comes as apiVersion, kind, metadata. Clients decode either
 * way; the proxy sends what the API server sends so that no client can tell the difference.
 */

import FIELDS from './bookmark-fields.json' with { type: 'json' };

/**
 * apiVersion → kind → the fields after metadata, as read from kube-apiserver 1.35 bookmarks
 * (bookmark-fields.json; data, so it is kept as data). Serialised once here: JSON.stringify keeps
 * their order, which is the Go type's.
 */
const emptyFields = new Map<string, string>();
for (const [apiVersion, kinds] of Object.entries(FIELDS as Record<string, Record<string, unknown>>))
  for (const [kind, fields] of Object.entries(kinds))
    emptyFields.set(`${apiVersion} ${kind}`, JSON.stringify(fields));

/** One BOOKMARK event line (with its newline) for an object of `kind` at `metadata`. */
export function bookmarkLine(kind: string, apiVersion: string, metadata: Record<string, unknown>): string {
  const fields = emptyFields.get(`${apiVersion} ${kind}`);
  const meta = JSON.stringify(metadata);
  const object =
    fields === undefined
      ? `{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"metadata":${meta}}`
      : `{"kind":${JSON.stringify(kind)},"apiVersion":${JSON.stringify(apiVersion)},"metadata":${meta}${fields === '{}' ? '' : `,${fields.slice(1, -1)}`}}`;
  return `{"type":"BOOKMARK","object":${object}}\n`;
}
