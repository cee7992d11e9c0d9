/**
 * The test node's container images, without a registry or Docker: Debian's static busybox and its
 * applet links as one uncompressed layer shared by the pause image and the app image (only their
 * configs differ), written as an OCI image layout archive for `ctr images import`.
 */
import { readFileSync } from 'node:fs';
import { layer, type TarEntry, writeOciArchive } from '../../scripts/image/oci-layout.js';

export const BUSYBOX_STATIC = '/bin/busybox';

/** Busybox applets the images' commands use; each is a symlink to /bin/busybox. */
const APPLETS = ['sh', 'sleep', 'cat', 'echo', 'ls', 'ip', 'hostname', 'wget', 'nc', 'ps', 'httpd', 'mkdir'];

/** The root file system: /bin/busybox (static), applet links and the usual empty mount points. */
function busyboxEntries(busybox: string): TarEntry[] {
  return [
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'var', 'config'].map(
      (path) => ({ kind: 'dir', path, mode: path === 'tmp' ? 0o1777 : 0o755 }) as TarEntry,
    ),
    { kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    ...APPLETS.map((a) => ({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' }) as TarEntry),
    { kind: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/:/bin/sh\n') },
    { kind: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') },
  ];
}

export interface ImageSpec {
  /** Full reference, e.g. islet.test/pause:1 (the name CRI and pods use). */
  ref: string;
  entrypoint?: string[];
  cmd?: string[];
}

/** Writes every image in `images` (sharing one busybox layer) as one OCI layout archive to `file`. */
export function writeImageArchive(file: string, images: ImageSpec[], busybox = BUSYBOX_STATIC): void {
  // Uncompressed: the archive stays on this machine, and gzip would only cost time.
  const rootfs = layer(busyboxEntries(busybox), false);
  writeOciArchive(
    file,
    images.map((img) => ({
      ref: img.ref,
      layers: [rootfs],
      config: {
        Env: ['PATH=/bin'],
        WorkingDir: '/',
        ...(img.entrypoint ? { Entrypoint: img.entrypoint } : {}),
        ...(img.cmd ? { Cmd: img.cmd } : {}),
      },
    })),
  );
}

/** A pause process: sleeps until SIGTERM/SIGINT and then exits 0 at once (wait is interruptible). */
export const PAUSE_COMMAND = [
  '/bin/sh',
  '-c',
  "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
];
