/**
 * The single executable extracts its SQLite addon to a file and dlopens it. Run as an ordinary
 * user with a temp directory anyone can write to, it must never load a file someone else put
 * where it looks. Every planted file here is not ELF: dlopen would throw on it, so a database that
 * opens proves the plant was not loaded.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addonCacheDir, addonFileName, ROOT_ADDON_DIR } from '../../lib/native-addon.js';
import { distDir, isletBinary } from '../islet-binary.js';

/** nobody: any uid other than root and the test's own files' owner. */
const USER = 65534;
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('[shipping/native-addon] skipped: needs root to run the binary as another user');

/** The id scripts/build.mjs gives the addon it packs: names the file the binary looks for. */
const addonId = createHash('sha256')
  .update(readFileSync(join(distDir, 'better_sqlite3.node')))
  .digest('hex')
  .slice(0, 16);
const PLANT = '#!/bin/sh\necho this is not the SQLite addon\n';

interface Run {
  code: number | null;
  stderr: string;
  snapshotDb: { status: string; summary: string } | undefined;
}

describe.skipIf(!isRoot)('the embedded SQLite addon, run as an ordinary user', () => {
  let base: string;
  let bin: string;
  let hostRoot: string;
  let tmp: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'islet-addon-'));
    chmodSync(base, 0o755);
    bin = join(base, 'islet');
    copyFileSync(isletBinary, bin);
    chmodSync(bin, 0o755);
    // A plugin database for `islet doctor` to open: its check opens it through the addon.
    hostRoot = join(base, 'host');
    mkdirSync(join(hostRoot, 'var/lib/islet'), { recursive: true });
    const db = new Database(join(hostRoot, 'var/lib/islet/ipam.db'));
    db.exec('CREATE TABLE probe (state TEXT)');
    db.close();
    for (const p of ['host', 'host/var', 'host/var/lib', 'host/var/lib/islet'])
      chmodSync(join(base, p), 0o755);
    chmodSync(join(hostRoot, 'var/lib/islet/ipam.db'), 0o644);
  });
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });
  beforeEach(() => {
    // A temp directory like /tmp: anyone may create entries in it.
    tmp = mkdtempSync(join(base, 'tmp-'));
    chmodSync(tmp, 0o1777);
  });

  /** `islet doctor` as the user: its snapshot-db finding says whether SQLite opened. */
  function doctorAsUser(env: Record<string, string>): Promise<Run> {
    const args = ['--reuid', String(USER), '--regid', String(USER), '--clear-groups', bin];
    args.push('doctor', '--root', hostRoot, '--json', '--admin', 'http://127.0.0.1:1');
    return new Promise((resolve) => {
      const child = execFile(
        'setpriv',
        args,
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: tmp, ...env } },
        (_err, stdout, stderr) => {
          let snapshotDb: Run['snapshotDb'];
          try {
            const report = JSON.parse(String(stdout)) as { findings: Array<{ id: string }> };
            snapshotDb = report.findings.find((f) => f.id === 'snapshot-db') as Run['snapshotDb'];
          } catch {
            snapshotDb = undefined;
          }
          resolve({ code: child.exitCode, stderr: String(stderr), snapshotDb });
        },
      );
    });
  }

  function expectSqliteOpened(r: Run): void {
    expect(r.snapshotDb, r.stderr).toMatchObject({
      status: 'ok',
      summary: expect.stringContaining('probe 0'),
    });
  }

  /** A non-ELF file where the binary looks, owned by root (not the user). */
  function plant(dir: string, opts: { mode: number; owner: number }): string {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, addonFileName(addonId));
    writeFileSync(file, PLANT, { mode: 0o755 });
    chownSync(dir, opts.owner, opts.owner);
    chmodSync(dir, opts.mode);
    return file;
  }

  it('a public directory at its usual place, with a file in it, is not used; the user gets a private one-time copy', async () => {
    const usual = addonCacheDir(USER, {}, () => tmp);
    const planted = plant(usual, { mode: 0o777, owner: USER });
    // Where an earlier version looked (tmp/islet-<id>/better_sqlite3.node): planted as well.
    const legacy = join(tmp, `islet-${addonId}`);
    mkdirSync(legacy, { mode: 0o777 });
    chmodSync(legacy, 0o777);
    writeFileSync(join(legacy, 'better_sqlite3.node'), PLANT, { mode: 0o755 });

    const r = await doctorAsUser({});
    expectSqliteOpened(r);
    expect(r.stderr).toContain(`not using ${usual} for the SQLite addon`);
    expect(r.stderr).toContain('open to group or others');
    expect(readFileSync(planted, 'utf8')).toBe(PLANT);
    // The one-time copy is gone again: the temp directory holds only what the test made.
    expect(readdirSync(tmp).sort()).toEqual([`islet-${addonId}`, `islet-${USER}`].sort());
  });

  it('a private directory of another owner at its usual place is not used', async () => {
    const usual = addonCacheDir(USER, {}, () => tmp);
    plant(usual, { mode: 0o700, owner: 0 });
    const r = await doctorAsUser({});
    expectSqliteOpened(r);
    expect(r.stderr).toContain(`${usual} belongs to uid 0, not ${USER}`);
  });

  it('its own private directory: a file it did not write there is replaced before loading', async () => {
    const usual = addonCacheDir(USER, {}, () => tmp);
    const planted = plant(usual, { mode: 0o700, owner: USER });
    const r = await doctorAsUser({});
    expectSqliteOpened(r);
    expect(r.stderr).toBe('');
    const st = lstatSync(planted);
    expect(st.uid).toBe(USER);
    expect(st.mode & 0o777).toBe(0o500);
    expect(readFileSync(planted).equals(readFileSync(join(distDir, 'better_sqlite3.node')))).toBe(true);
  });

  it("$XDG_RUNTIME_DIR when it is the user's and private: extracted once there, reused after", async () => {
    const runtime = join(base, `xdg-${Date.now()}`);
    mkdirSync(runtime, { mode: 0o700 });
    chownSync(runtime, USER, USER);
    // The temp directory's usual place is planted: only the runtime directory may be used.
    const planted = plant(
      addonCacheDir(USER, {}, () => tmp),
      { mode: 0o777, owner: USER },
    );
    const first = await doctorAsUser({ XDG_RUNTIME_DIR: runtime });
    expectSqliteOpened(first);
    expect(first.stderr).toBe('');
    const file = join(runtime, 'islet', addonFileName(addonId));
    expect(addonCacheDir(USER, { XDG_RUNTIME_DIR: runtime }, () => tmp)).toBe(join(runtime, 'islet'));
    const st = lstatSync(file);
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: USER, mode: 0o500 });
    expect(lstatSync(join(runtime, 'islet')).mode & 0o777).toBe(0o700);
    const second = await doctorAsUser({ XDG_RUNTIME_DIR: runtime });
    expectSqliteOpened(second);
    expect(lstatSync(file).ino).toBe(st.ino);
    expect(readFileSync(planted, 'utf8')).toBe(PLANT);
  });

  it("$XDG_RUNTIME_DIR that is not the user's is ignored for a private directory in the temp directory", async () => {
    const runtime = join(base, `xdg-root-${Date.now()}`);
    mkdirSync(runtime, { mode: 0o777 });
    chmodSync(runtime, 0o777);
    const r = await doctorAsUser({ XDG_RUNTIME_DIR: runtime });
    expectSqliteOpened(r);
    expect(r.stderr).toBe('');
    expect(existsSync(join(runtime, 'islet'))).toBe(false);
    const made = lstatSync(addonCacheDir(USER, {}, () => tmp));
    expect({ uid: made.uid, mode: made.mode & 0o777 }).toEqual({ uid: USER, mode: 0o700 });
  });
});

describe.skipIf(!isRoot)('the embedded SQLite addon, run as root', () => {
  it(`${ROOT_ADDON_DIR} open to others is not used`, async () => {
    // A mount namespace of its own with a scratch directory over /var/lib/islet: the host's
    // real state is never touched.
    const scratch = mkdtempSync(join(tmpdir(), 'islet-addon-root-'));
    try {
      const planted = join(scratch, '.native');
      mkdirSync(planted, { mode: 0o777 });
      chmodSync(planted, 0o777);
      writeFileSync(join(planted, addonFileName(addonId)), PLANT, { mode: 0o755 });
      const host = join(scratch, 'host');
      mkdirSync(join(host, 'var/lib/islet'), { recursive: true });
      const db = new Database(join(host, 'var/lib/islet/ipam.db'));
      db.exec('CREATE TABLE probe (state TEXT)');
      db.close();
      mkdirSync('/var/lib/islet', { recursive: true });
      const script = `mount --bind "$1" /var/lib/islet && exec "$2" doctor --root "$3" --json --admin http://127.0.0.1:1`;
      const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
        execFile(
          'unshare',
          ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', scratch, isletBinary, host],
          { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
          (_err, stdout, stderr) => resolve({ stdout: String(stdout), stderr: String(stderr) }),
        );
      });
      const report = JSON.parse(r.stdout) as { findings: Array<{ id: string; status: string }> };
      expect(
        report.findings.find((f) => f.id === 'snapshot-db'),
        r.stderr,
      ).toMatchObject({ status: 'ok' });
      expect(r.stderr).toContain(`not using ${ROOT_ADDON_DIR} for the SQLite addon`);
      expect(readFileSync(join(planted, addonFileName(addonId)), 'utf8')).toBe(PLANT);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
