/**
 * File operations on the host root the installer works on (`--root`, "/" on a node, a temp dir in
 * tests). Host paths are absolute paths as the node sees them; `at()` maps them under the root.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, lstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';

/** sha256 of a file, read in chunks: the islet binary is ~85 MB and never needs to sit in memory. */
export function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export class HostRoot {
  constructor(readonly root: string) {}

  at(hostPath: string): string {
    if (!hostPath.startsWith('/')) throw new Error(`host path "${hostPath}" must be absolute`);
    return join(this.root, hostPath);
  }

  read(hostPath: string): Buffer | undefined {
    try {
      return readFileSync(this.at(hostPath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  stat(hostPath: string): { mode: number; uid: number; gid: number; isDirectory: boolean } | undefined {
    try {
      const st = lstatSync(this.at(hostPath));
      return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, isDirectory: st.isDirectory() };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Atomic write with an exact mode (and owner, when given and we may set it). */
  write(
    hostPath: string,
    data: Uint8Array | string,
    mode: number,
    owner?: { uid: number; gid: number },
  ): void {
    const path = this.at(hostPath);
    writeFileAtomic(path, data, mode);
    // The umask may have narrowed the mode; restores must be exact.
    chmodSync(path, mode);
    if (owner && process.getuid?.() === 0) chownSync(path, owner.uid, owner.gid);
  }
}
