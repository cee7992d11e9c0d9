/**
 * Container images without a registry or Docker: an OCI image layout (oci-layout, index.json,
 * blobs/sha256/...) written as one tar archive, ready for `ctr images import`. Every image is a
 * single uncompressed layer holding Debian's static busybox and its applet links, so the same
 * layer blob serves the pause image and the app image; only their configs differ.
 *
 * Formats: POSIX ustar (IEEE 1003.1-1988) and the OCI image spec v1.1 (layout, index, manifest,
 * config). Tar entries carry mtime 0 and uid/gid 0, so the digests are stable across runs.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

export const BUSYBOX_STATIC = '/bin/busybox';

type TarEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string };

function octal(value: number, width: number): string {
  // width-1 octal digits and a NUL, as ustar's numeric fields are.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, type: string, size: number, mode: number, linkname = ''): Buffer {
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100)
    throw new Error(`tar name too long for a plain ustar header: ${name}`);
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii'); // mtime
  h.write('        ', 148, 8, 'ascii'); // checksum counts as spaces while summing
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A tar archive of `entries` (paths relative, no leading slash), ended by two zero blocks. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.kind === 'dir') parts.push(header(`${e.path.replace(/\/$/, '')}/`, '5', 0, e.mode ?? 0o755));
    else if (e.kind === 'symlink') parts.push(header(e.path, '2', 0, 0o777, e.target));
    else {
      parts.push(header(e.path, '0', e.data.length, e.mode ?? 0o644), e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

function blob(data: Buffer): Blob {
  return { digest: sha256(data), size: data.length, data };
}

/** Busybox applets the images' commands use; each is a symlink to /bin/busybox. */
const APPLETS = ['sh', 'sleep', 'cat', 'echo', 'ls', 'ip', 'hostname', 'wget', 'nc', 'ps'];

/** The root file system layer: /bin/busybox (static), applet links and the usual empty mount points. */
export function busyboxLayer(busybox = BUSYBOX_STATIC): Buffer {
  const entries: TarEntry[] = [
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'var', 'config'].map(
      (path) => ({ kind: 'dir', path, mode: path === 'tmp' ? 0o1777 : 0o755 }) as TarEntry,
    ),
    { kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    ...APPLETS.map((a) => ({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' }) as TarEntry),
    { kind: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/:/bin/sh\n') },
    { kind: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') },
  ];
  return tar(entries);
}

export interface ImageSpec {
  /** Full reference, e.g. islet.test/pause:1 (the name CRI and pods use). */
  ref: string;
  entrypoint?: string[];
  cmd?: string[];
}

/**
 * Writes an OCI image layout archive holding every image in `images` (sharing one busybox layer)
 * to `file`. The index names each manifest with `io.containerd.image.name` (what `ctr images
 * import` stores it under) and the OCI ref-name annotation (its tag).
 */
export function writeImageArchive(file: string, images: ImageSpec[], busybox = BUSYBOX_STATIC): void {
  const layer = blob(busyboxLayer(busybox));
  const blobs = new Map<string, Blob>([[layer.digest, layer]]);
  const manifests = images.map((img) => {
    const config = blob(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: {
            Env: ['PATH=/bin'],
            WorkingDir: '/',
            ...(img.entrypoint ? { Entrypoint: img.entrypoint } : {}),
            ...(img.cmd ? { Cmd: img.cmd } : {}),
          },
          // Uncompressed layer: its diff ID is its digest.
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
    );
    const manifest = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: config.digest,
            size: config.size,
          },
          layers: [
            { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size },
          ],
        }),
      ),
    );
    blobs.set(config.digest, config);
    blobs.set(manifest.digest, manifest);
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifest.digest,
      size: manifest.size,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: {
        'io.containerd.image.name': img.ref,
        'org.opencontainers.image.ref.name': img.ref.slice(img.ref.lastIndexOf(':') + 1),
      },
    };
  });
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  const entries: TarEntry[] = [
    { kind: 'file', path: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { kind: 'file', path: 'index.json', data: Buffer.from(JSON.stringify(index)) },
    { kind: 'dir', path: 'blobs' },
    { kind: 'dir', path: 'blobs/sha256' },
    ...[...blobs.values()].map(
      (b) => ({ kind: 'file', path: `blobs/sha256/${b.digest.slice(7)}`, data: b.data }) as TarEntry,
    ),
  ];
  writeFileSync(file, tar(entries));
}

/** A pause process: sleeps until SIGTERM/SIGINT and then exits 0 at once (wait is interruptible). */
export const PAUSE_COMMAND = [
  '/bin/sh',
  '-c',
  "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
];
