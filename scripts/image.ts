/**
 * `npm run image`: the islet image, built without a Docker engine. One layer holds dist/islet and
 * exactly the C runtime it links against (what `ldd dist/islet` lists: glibc, libstdc++, libgcc_s
 * and the dynamic loader, taken from this machine), an /etc/passwd with a non-root user the image
 * runs as by default (the DaemonSet's containers ask for root themselves), and a sticky /tmp.
 * Written as an OCI image layout archive, dist/islet-image.tar, with OCI labels; prints the
 * manifest digest and the sizes.
 *
 *   node --import tsx scripts/image.ts [--out FILE] [--ref REF]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { layer, type TarEntry, writeOciArchive } from './image/oci-layout.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const binary = join(root, 'dist', 'islet');

/** The image name the manifests under daemonset/ use. */
export const IMAGE_NAME = 'ghcr.io/islet-dev/islet';
/** The user the image runs as when a pod does not say: distroless's "nonroot". */
export const IMAGE_USER = 65532;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Absolute paths of the shared objects `ldd` resolves for `file` (the loader included). */
export function sharedLibraries(file: string): string[] {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  if (libs.length === 0) throw new Error(`ldd listed no libraries for ${file}:\n${out}`);
  return libs;
}

/** Directories leading to `path` (relative), outermost first. */
function parents(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

export function rootfsEntries(): TarEntry[] {
  const files = new Map<string, TarEntry>();
  const dirs = new Set<string>(['etc', 'tmp', 'usr', 'usr/local', 'usr/local/bin', 'var', 'var/lib']);
  const add = (e: TarEntry) => {
    for (const d of parents(e.path)) dirs.add(d);
    files.set(e.path, e);
  };
  add({ kind: 'file', path: 'usr/local/bin/islet', data: readFileSync(binary), mode: 0o755 });
  for (const lib of sharedLibraries(binary)) {
    // ldd names the path the loader opens; on merged-/usr systems that is often a symlink.
    const real = realpathSync(lib);
    add({ kind: 'file', path: real.slice(1), data: readFileSync(real), mode: statSync(real).mode & 0o777 });
    if (real !== lib) {
      const linkDir = realpathSync(dirname(lib));
      const linkPath = join(linkDir, lib.slice(lib.lastIndexOf('/') + 1)).slice(1);
      if (linkPath !== real.slice(1)) add({ kind: 'symlink', path: linkPath, target: real });
      // /lib64 → /usr/lib64 style directory links: keep the name the binary's interpreter path uses.
      if (dirname(lib) !== linkDir) add({ kind: 'symlink', path: dirname(lib).slice(1), target: linkDir });
    }
  }
  add({
    kind: 'file',
    path: 'etc/passwd',
    data: Buffer.from(
      `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${IMAGE_USER}:${IMAGE_USER}:nonroot:/home/nonroot:/sbin/nologin\n`,
    ),
  });
  add({ kind: 'file', path: 'etc/group', data: Buffer.from(`root:x:0:\nnonroot:x:${IMAGE_USER}:\n`) });
  const symlinkedDirs = new Set([...files.values()].filter((e) => e.kind === 'symlink').map((e) => e.path));
  const dirEntries: TarEntry[] = [...dirs]
    .filter((d) => !symlinkedDirs.has(d))
    .sort()
    .map((path) => ({ kind: 'dir', path, mode: path === 'tmp' ? 0o1777 : 0o755 }));
  // Directories first, then symlinked directories, then files (a file under a symlinked directory
  // is stored at its real path, so order among those does not matter).
  const entries = [...files.values()].sort((a, b) => a.path.localeCompare(b.path));
  return [
    ...dirEntries,
    ...entries.filter((e) => e.kind === 'symlink'),
    ...entries.filter((e) => e.kind !== 'symlink'),
  ];
}

function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function main(): void {
  const out = resolve(arg('out', join(root, 'dist', 'islet-image.tar')));
  const ref = arg('ref', `${IMAGE_NAME}:${pkg.version}`);
  const started = Date.now();
  const labels = {
    'org.opencontainers.image.title': 'islet',
    'org.opencontainers.image.description': 'Node-level offline autonomy for Kubernetes edge nodes',
    'org.opencontainers.image.version': pkg.version,
    'org.opencontainers.image.revision': gitRevision(),
    'org.opencontainers.image.source': 'https://github.com/islet-dev/islet',
    'org.opencontainers.image.licenses': 'Apache-2.0',
  };
  const rootfs = layer(rootfsEntries());
  const [image] = writeOciArchive(out, [
    {
      ref,
      layers: [rootfs],
      config: {
        User: `${IMAGE_USER}:${IMAGE_USER}`,
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'TMPDIR=/tmp'],
        Entrypoint: ['/usr/local/bin/islet'],
        Cmd: ['help'],
        WorkingDir: '/',
        Labels: labels,
      },
      annotations: labels,
    },
  ]);
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`image ${ref}`);
  console.log(`  digest  ${image!.digest}`);
  console.log(`  archive ${out} (${mib(statSync(out).size)}; layer ${mib(rootfs.size)} compressed)`);
  console.log(`  built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
