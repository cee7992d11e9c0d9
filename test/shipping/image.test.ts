/**
 * The islet image as `npm run image` writes it: a valid OCI layout whose one layer holds exactly
 * dist/islet and the C runtime `ldd` lists, non-root by default, with OCI labels; imported into a
 * real containerd 2.2 and run by runc (as the image's default user), `islet version` and
 * `islet doctor --json` work inside it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_USER, sharedLibraries } from '../../scripts/image.js';
import { isletBinary, repoRoot } from '../islet-binary.js';
import { Containerd, containerdPaths, overlayWorks } from '../node/containerd.js';
import { edgeNodeMissing } from '../node/edge-node.js';
import { unmountAll } from '../node/host-cleanup.js';

const run = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// biome-ignore lint/suspicious/noExplicitAny: OCI JSON documents, read field by field.
type Loose = any;

/** Files of an uncompressed tar: path → {type, data, link}. */
function untar(buf: Buffer): Map<string, { type: string; data: Buffer; link: string }> {
  const out = new Map<string, { type: string; data: Buffer; link: string }>();
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.toString('utf8', a, a + n).replace(/\0.*$/s, '');
    const name = str(345, 155) ? `${str(345, 155)}/${str(0, 100)}` : str(0, 100);
    const size = Number.parseInt(str(124, 12), 8);
    out.set(name.replace(/\/$/, ''), {
      type: str(156, 1),
      data: buf.subarray(off + 512, off + 512 + size),
      link: str(157, 100),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('the islet OCI image', () => {
  let dir: string;
  let archive: string;
  let layout: ReturnType<typeof untar>;
  const blob = (digest: string) => layout.get(`blobs/sha256/${digest.slice(7)}`)!.data;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'islet-image-'));
    archive = join(dir, 'islet-image.tar');
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'scripts/image.ts'),
        '--out',
        archive,
        '--ref',
        'islet.test/islet:ci',
      ],
      { cwd: repoRoot, timeout: 120_000 },
    );
    expect(stdout).toMatch(/digest\s+sha256:[0-9a-f]{64}/);
    layout = untar(readFileSync(archive));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is an OCI layout whose digests, labels and user are what a registry and a runtime expect', () => {
    expect(JSON.parse(layout.get('oci-layout')!.data.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index: Loose = JSON.parse(layout.get('index.json')!.data.toString());
    expect(index.manifests).toHaveLength(1);
    const entry = index.manifests[0];
    expect(entry.annotations['io.containerd.image.name']).toBe('islet.test/islet:ci');
    const manifestBytes = blob(entry.digest);
    expect(sha256(manifestBytes)).toBe(entry.digest);
    const manifest: Loose = JSON.parse(manifestBytes.toString());
    const configBytes = blob(manifest.config.digest);
    expect(sha256(configBytes)).toBe(manifest.config.digest);
    const config: Loose = JSON.parse(configBytes.toString());
    expect(config.config.User).toBe(`${IMAGE_USER}:${IMAGE_USER}`);
    expect(config.config.Entrypoint).toEqual(['/usr/local/bin/islet']);
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    expect(config.config.Labels).toMatchObject({
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.revision': expect.stringMatching(/^[0-9a-f]{40}$|^unknown$/),
      'org.opencontainers.image.source': expect.stringMatching(/^https:\/\//),
    });
    expect(manifest.layers).toHaveLength(1);
    const gz = blob(manifest.layers[0].digest);
    expect(sha256(gz)).toBe(manifest.layers[0].digest);
    const raw = gunzipSync(gz);
    expect(config.rootfs.diff_ids).toEqual([sha256(raw)]);
  });

  it('holds exactly dist/islet and the C runtime it links against', () => {
    const index: Loose = JSON.parse(layout.get('index.json')!.data.toString());
    const manifest: Loose = JSON.parse(blob(index.manifests[0].digest).toString());
    const files = untar(gunzipSync(blob(manifest.layers[0].digest)));
    expect(sha256(files.get('usr/local/bin/islet')!.data)).toBe(sha256(readFileSync(isletBinary)));
    const regular = [...files].filter(([, f]) => f.type === '0').map(([p]) => p);
    const libs = sharedLibraries(isletBinary).map((l) => readFileSync(l));
    // Every library ldd names is in the image byte for byte, and nothing else but islet and /etc.
    for (const lib of libs) expect(regular.some((p) => files.get(p)!.data.equals(lib))).toBe(true);
    expect(regular.filter((p) => !p.startsWith('etc/')).length).toBe(libs.length + 1);
    expect(files.get('etc/passwd')!.data.toString()).toContain(`:${IMAGE_USER}:${IMAGE_USER}:`);
    expect(files.get('tmp')!.type).toBe('5');
  });

  const missing = edgeNodeMissing();
  if (missing) console.warn(`skipping the image run in containerd: ${missing}`);

  it.skipIf(missing)(
    'runs islet version and islet doctor --json in containerd, as its non-root user',
    async () => {
      const root = join(dir, 'node');
      mkdirSync(root, { recursive: true });
      const paths = containerdPaths(root, dir);
      const ctd = await Containerd.start(
        {
          paths,
          cniBinDirs: ['/usr/lib/cni'],
          cniConfDir: join(root, 'etc/cni/net.d'),
          sandboxImage: 'islet.test/islet:ci',
          snapshotter: (await overlayWorks(dir)) ? 'overlayfs' : 'native',
        },
        {},
      );
      try {
        await ctd.importImages(archive);
        expect(await ctd.ctr(['images', 'ls', '-q'])).toContain('islet.test/islet:ci');
        const snapshotter = (await overlayWorks(dir)) ? 'overlayfs' : 'native';
        const id = `islet-image-${process.pid}`;
        const version = await ctd.ctr([
          'run',
          '--rm',
          '--snapshotter',
          snapshotter,
          'islet.test/islet:ci',
          `${id}-v`,
          '/usr/local/bin/islet',
          'version',
        ]);
        const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
        expect(version).toContain(pkg);
        const doctor = await ctd
          .ctr([
            'run',
            '--rm',
            '--snapshotter',
            snapshotter,
            'islet.test/islet:ci',
            `${id}-id`,
            '/usr/local/bin/islet',
            'doctor',
            '--json',
          ])
          .catch((err: { stdout?: string }) => err.stdout ?? '');
        // Nothing is installed in the image's own root: doctor reports that (exit 1) as JSON.
        const report = JSON.parse(doctor);
        expect(report.healthy).toBe(false);
        expect(report.findings.map((f: { id: string }) => f.id)).toContain('plugin-binary');
        // The snapshot-db check opens SQLite through the addon the binary unpacks as its user.
        expect(report.findings.find((f: { id: string }) => f.id === 'snapshot-db').status).not.toBe('fail');
      } finally {
        await ctd.stop();
        await unmountAll(root);
      }
    },
  );
});
