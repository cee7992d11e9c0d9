/** The GC list of attachments still in use: `cni.dev/valid-attachments` (1.1.0) or the legacy `cni.dev/attachments`. */
import { CniError, ErrorCode } from '../cni/errors.js';
import type { NetConf } from '../cni/types.js';

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

export function validAttachments(conf: NetConf): ValidAttachment[] {
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'cni.dev/valid-attachments must be an array');
  }
  return raw.map((a, i) => {
    const v = a as { containerID?: unknown; ifname?: unknown };
    if (!a || typeof v.containerID !== 'string' || typeof v.ifname !== 'string') {
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `cni.dev/valid-attachments[${i}] must be {"containerID": string, "ifname": string}`,
      );
    }
    return { containerID: v.containerID, ifname: v.ifname };
  });
}

export function attachmentSet(list: ValidAttachment[]): Set<string> {
  return new Set(list.map((a) => `${a.containerID}\u0000${a.ifname}`));
}

export function inSet(set: Set<string>, containerId: string, ifname: string): boolean {
  return set.has(`${containerId}\u0000${ifname}`);
}
