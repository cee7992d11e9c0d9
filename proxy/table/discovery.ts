/** kube-apiserver's printers for endpoint slices and leases. */
import { since } from './duration.js';
import type { Json } from './format.js';
import type { PrintedRow } from './types.js';

const MAX_LISTED = 3;

/** listWithMoreString: the first three, "+ N more...", "<unset>" for none. */
function listWithMore(all: string[]): string {
  const shown = all.slice(0, MAX_LISTED).join(',');
  if (all.length > MAX_LISTED) return `${shown} + ${all.length - MAX_LISTED} more...`;
  return shown || '<unset>';
}

export function printEndpointSlice(slice: Json, now: number): PrintedRow {
  const ports = ((slice.ports ?? []) as Json[]).map((p) =>
    typeof p.port === 'number' ? String(p.port) : typeof p.name === 'string' ? p.name : '*',
  );
  const addresses = ((slice.endpoints ?? []) as Json[]).flatMap((e) => (e.addresses ?? []) as string[]);
  return {
    cells: [
      slice.metadata?.name ?? '',
      slice.addressType ?? '',
      listWithMore(ports),
      listWithMore(addresses),
      since(slice.metadata?.creationTimestamp, now),
    ],
  };
}

export function printLease(lease: Json, now: number): PrintedRow {
  return {
    cells: [
      lease.metadata?.name ?? '',
      lease.spec?.holderIdentity ?? '',
      since(lease.metadata?.creationTimestamp, now),
    ],
  };
}
