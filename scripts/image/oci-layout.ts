/**
 * OCI images without a Docker engine or a registry: file-system layers as tar archives and an OCI
 * image layout (oci-layout, index.json, blobs/sha256/...) written as one tar archive, which
 * `ctr images import`, `podman load` and `skopeo copy oci-archive:` take as it is.
 *
 * Formats: POSIX ustar (IEEE 1003.1-1988, with its prefix field for long names) and the OCI image
 * spec v1.1 (layout, index, manifest, config). Entries carry mtime 0 and uid/gid 0 unless given,
 * and gzip runs without a timestamp, so the same inputs always give the same digests.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export type TarEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number; uid?: number; gid?: number }
  | { kind: 'symlink'; path: string; target: string };

function octal(value: number, width: number): string {
  // width-1 octal digits and a NUL, as ustar's numeric fields are.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** ustar keeps names up to 100 bytes, or 155 + '/' + 100 split at a slash. */
function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100 && base) return { prefix, base };
  }
  throw new Error(`tar name too long for ustar: ${name}`);
}

function header(
  name: string,
  type: string,
  size: number,
  mode: number,
  linkname = '',
  uid = 0,
  gid = 0,
): Buffer {
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar link target too long for ustar: ${linkname}`);
  const { prefix, base } = splitName(name);
  const h = Buffer.alloc(512, 0);
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(uid, 8), 108, 8, 'ascii');
  h.write(octal(gid, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii'); // mtime
  h.write('        ', 148, 8, 'ascii'); // the checksum counts as spaces while summing
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A tar archive of `entries` (relative paths, no leading slash), ended by two zero blocks. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.kind === 'dir') parts.push(header(`${e.path.replace(/\/$/, '')}/`, '5', 0, e.mode ?? 0o755));
    else if (e.kind === 'symlink') parts.push(header(e.path, '2', 0, 0o777, e.target));
    else {
      parts.push(header(e.path, '0', e.data.length, e.mode ?? 0o644, '', e.uid, e.gid), e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
}

function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: sha256(data), size: data.length, data };
}

/** A layer blob: gzip-compressed unless `compress` is false; `diffId` is the digest of the tar. */
export function layer(entries: TarEntry[], compress = true): Blob & { diffId: string } {
  const raw = tar(entries);
  const diffId = sha256(raw);
  return compress
    ? { ...blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(raw, { level: 6 })), diffId }
    : { ...blob('application/vnd.oci.image.layer.v1.tar', raw), diffId };
}

export interface ImageSpec {
  /** Full reference, e.g. ghcr.io/islet-dev/islet:0.1.0 (the name containerd stores it under). */
  ref: string;
  layers: (Blob & { diffId: string })[];
  /** The image config's `config` (Entrypoint, Cmd, Env, User, Labels, WorkingDir...). */
  config: Record<string, unknown>;
  /** Manifest annotations (org.opencontainers.image.*). */
  annotations?: Record<string, string>;
  architecture?: string;
}

export interface WrittenImage {
  ref: string;
  /** The manifest's digest: what a runtime pins the image by. */
  digest: string;
  configDigest: string;
}

/**
 * Writes an OCI image layout archive with every image in `images` (shared layers once) to
 * `file`. The index names each manifest with `io.containerd.image.name` (what `ctr images
 * import` stores it under) and the OCI ref-name annotation (its tag).
 */
export function writeOciArchive(file: string, images: ImageSpec[]): WrittenImage[] {
  const blobs = new Map<string, Blob>();
  const written: WrittenImage[] = [];
  const manifests = images.map((img) => {
    const architecture = img.architecture ?? 'amd64';
    for (const l of img.layers) blobs.set(l.digest, l);
    const config = blob(
      'application/vnd.oci.image.config.v1+json',
      Buffer.from(
        JSON.stringify({
          architecture,
          os: 'linux',
          config: img.config,
          rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.diffId) },
        }),
      ),
    );
    const manifest = blob(
      'application/vnd.oci.image.manifest.v1+json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
          layers: img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          ...(img.annotations ? { annotations: img.annotations } : {}),
        }),
      ),
    );
    blobs.set(config.digest, config);
    blobs.set(manifest.digest, manifest);
    written.push({ ref: img.ref, digest: manifest.digest, configDigest: config.digest });
    return {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      platform: { architecture, os: 'linux' },
      annotations: {
        'io.containerd.image.name': img.ref,
        'org.opencontainers.image.ref.name': img.ref.slice(img.ref.lastIndexOf(':') + 1),
      },
    };
  });
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  writeFileSync(
    file,
    tar([
      {
        kind: 'file',
        path: 'oci-layout',
        data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })),
      },
      { kind: 'file', path: 'index.json', data: Buffer.from(JSON.stringify(index)) },
      { kind: 'dir', path: 'blobs' },
      { kind: 'dir', path: 'blobs/sha256' },
      ...[...blobs.values()].map(
        (b) => ({ kind: 'file', path: `blobs/sha256/${b.digest.slice(7)}`, data: b.data }) as TarEntry,
      ),
    ]),
  );
  return written;
}
