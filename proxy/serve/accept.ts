/**
 * What a client's Accept header allows us to answer with. The cache holds JSON; client-go sends
 * `application/vnd.kubernetes.protobuf,application/json`, kubectl asks for Tables first with a plain
 * JSON fallback. A request may be filled from upstream as JSON only when plain JSON is acceptable
 * AND is what the client would get anyway for the shape it asked (not a Table or metadata-only view).
 */
export interface AcceptDecision {
  /** Plain JSON (object/list) is acceptable to the client. */
  json: boolean;
  /** The client prefers a transformed shape (as=Table, as=PartialObjectMetadata...) or protobuf only. */
  wantsOtherShape: boolean;
}

export function decideAccept(header: string | undefined): AcceptDecision {
  if (!header || header.trim() === '') return { json: true, wantsOtherShape: false };
  let json = false;
  let other = false;
  for (const part of header.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const hasAs = params.some((p) => p.startsWith('as='));
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (hasAs) {
      other = true;
      continue;
    }
    if (type === 'application/json' || type === 'application/*' || type === '*/*') json = true;
  }
  return { json, wantsOtherShape: other };
}
