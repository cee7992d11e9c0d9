/**
 * Who holds an address in host-local's store: `<dataDir>/<network>/<ip>` contains the container id,
 * then "\r\n" (older versions: nothing) and the ifname. Any delegate keeping that layout works.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const HOST_LOCAL_DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface Holder {
  containerId: string;
  ifname: string;
}

/** undefined: no reservation file (free, or a delegate without this layout). */
export function reservationHolder(
  delegate: Record<string, unknown>,
  network: string,
  ip: string,
): Holder | undefined {
  const dataDir =
    typeof delegate.dataDir === 'string' && delegate.dataDir !== ''
      ? delegate.dataDir
      : HOST_LOCAL_DEFAULT_DATA_DIR;
  let text: string;
  try {
    text = readFileSync(join(dataDir, network, ip), 'utf8');
  } catch {
    return undefined;
  }
  const [id = '', ifname = ''] = text.split(/\r?\n/);
  if (id.trim() === '') return undefined;
  return { containerId: id.trim(), ifname: ifname.trim() };
}
