/**
 * What install changed, so uninstall can put it back byte for byte. Before a file is touched for
 * the first time its original state (content, mode, owner, or "absent") is saved under
 * /var/lib/islet/backup and listed in manifest.json; directories install creates are listed
 * before they are made. The manifest is rewritten atomically before each step, so a crash at any
 * point leaves a record of everything already changed: a rerun completes, uninstall restores.
 * A path is recorded once: reruns and upgrades keep the very first original.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BACKUP_DIR } from '../../lib/defaults.js';
import type { HostRoot } from './host-fs.js';

const MANIFEST_VERSION = 1;

export interface FileRecord {
  path: string;
  existed: boolean;
  /** Name of the saved copy under <backup>/files when the file existed. */
  copy?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  sha256?: string;
}

export interface BackupManifest {
  version: number;
  /** Directories install created, parents first. */
  createdDirs: string[];
  files: FileRecord[];
}

export class BackupManifestError extends Error {}

function emptyManifest(): BackupManifest {
  return { version: MANIFEST_VERSION, createdDirs: [], files: [] };
}

function missingAncestors(host: HostRoot, hostDir: string): string[] {
  const missing: string[] = [];
  for (let d = hostDir; d !== '/' && host.stat(d) === undefined; d = dirname(d)) missing.unshift(d);
  return missing;
}

export class BackupStore {
  private manifest: BackupManifest;

  constructor(
    private readonly host: HostRoot,
    readonly dir: string = BACKUP_DIR,
  ) {
    this.manifest = BackupStore.read(host, dir) ?? emptyManifest();
  }

  /** The saved manifest, or undefined when nothing was installed (or uninstall finished). */
  static read(host: HostRoot, dir: string = BACKUP_DIR): BackupManifest | undefined {
    const raw = host.read(`${dir}/manifest.json`);
    if (raw === undefined) return undefined;
    let parsed: BackupManifest;
    try {
      parsed = JSON.parse(raw.toString('utf8')) as BackupManifest;
    } catch (err) {
      throw new BackupManifestError(`${dir}/manifest.json is not valid JSON: ${(err as Error).message}`);
    }
    if (
      parsed.version !== MANIFEST_VERSION ||
      !Array.isArray(parsed.files) ||
      !Array.isArray(parsed.createdDirs)
    ) {
      throw new BackupManifestError(`${dir}/manifest.json has an unknown format (version ${parsed.version})`);
    }
    return parsed;
  }

  get records(): readonly FileRecord[] {
    return this.manifest.files;
  }

  get createdDirs(): readonly string[] {
    return this.manifest.createdDirs;
  }

  has(hostPath: string): boolean {
    return this.manifest.files.some((f) => f.path === hostPath);
  }

  /** The original content of a recorded path: bytes, null when it did not exist, undefined if unrecorded. */
  original(hostPath: string): Buffer | null | undefined {
    const rec = this.manifest.files.find((f) => f.path === hostPath);
    if (!rec) return undefined;
    if (!rec.existed) return null;
    const data = this.host.read(`${this.dir}/files/${rec.copy}`);
    if (data === undefined)
      throw new BackupManifestError(`backup copy of ${hostPath} is missing from ${this.dir}`);
    return data;
  }

  /** Saves a path's current state unless it was saved before. Call before changing the path. */
  recordFile(hostPath: string): void {
    if (this.has(hostPath)) return;
    const st = this.host.stat(hostPath);
    if (st?.isDirectory) throw new Error(`${hostPath} is a directory; islet expected a file there`);
    const rec: FileRecord = { path: hostPath, existed: st !== undefined };
    if (st) {
      const data = this.host.read(hostPath)!;
      rec.copy = encodeURIComponent(hostPath);
      rec.mode = st.mode;
      rec.uid = st.uid;
      rec.gid = st.gid;
      rec.sha256 = createHash('sha256').update(data).digest('hex');
      this.ensureDir(`${this.dir}/files`);
      this.host.write(`${this.dir}/files/${rec.copy}`, data, 0o600);
    }
    this.manifest.files.push(rec);
    this.save();
  }

  /** Creates a host directory (and missing parents), listing each in the manifest first. */
  ensureDir(hostDir: string): void {
    const missing = missingAncestors(this.host, hostDir);
    if (missing.length === 0) return;
    if (!hostDir.startsWith(this.dir)) {
      this.manifest.createdDirs.push(...missing.filter((d) => !this.manifest.createdDirs.includes(d)));
      this.save();
    } else {
      // The backup directory itself: listed once the manifest can be written into it.
      this.manifest.createdDirs.push(...missing.filter((d) => !this.manifest.createdDirs.includes(d)));
    }
    mkdirSync(this.host.at(hostDir), { recursive: true, mode: 0o755 });
  }

  private save(): void {
    const manifestDir = this.dir;
    if (this.host.stat(manifestDir) === undefined) this.ensureDir(manifestDir);
    this.host.write(`${this.dir}/manifest.json`, `${JSON.stringify(this.manifest, null, 2)}\n`, 0o600);
  }

  /** Puts every recorded path back, removes what install created, then the backup itself. */
  restoreAll(onRestore: (rec: FileRecord, action: 'restored' | 'removed') => void = () => {}): void {
    for (const rec of [...this.manifest.files].reverse()) {
      if (rec.existed) {
        const data = this.original(rec.path)!;
        const current = this.host.read(rec.path);
        const st = this.host.stat(rec.path);
        if (current === undefined || !current.equals(data) || st?.mode !== rec.mode) {
          this.host.write(rec.path, data, rec.mode ?? 0o644, { uid: rec.uid ?? 0, gid: rec.gid ?? 0 });
          onRestore(rec, 'restored');
        }
      } else if (this.host.stat(rec.path) !== undefined) {
        rmSync(this.host.at(rec.path), { force: true });
        onRestore(rec, 'removed');
      }
    }
    rmSync(this.host.at(`${this.dir}/files`), { recursive: true, force: true });
    // Last: until the manifest is gone, an interrupted uninstall can simply be run again.
    rmSync(this.host.at(`${this.dir}/manifest.json`), { force: true });
    for (const d of [...this.manifest.createdDirs].reverse()) {
      try {
        rmdirSync(this.host.at(d));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Something else now lives there (e.g. the proxy's cache): not ours to remove.
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    }
    this.manifest = emptyManifest();
  }
}
