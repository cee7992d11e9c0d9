/**
 * better-sqlite3's native addon inside the single executable is an asset that must become a file
 * before process.dlopen can load it, and loading a file runs it. So the file is only ever one this
 * user wrote from the binary's own asset, in a directory that only this user can write: a
 * directory is used only when it is a real directory (not a symlink), owned by the process's uid,
 * with no group or other permission bits; a file in it only when it is a regular file of that uid,
 * writable by nobody else, of the asset's size. Anything else is never loaded.
 */
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ADDON_DIR } from './defaults.js';

/** Where root keeps the extracted addon across runs (next to the plugin's other state). */
export const ROOT_ADDON_DIR = ADDON_DIR;

/** The extracted addon's file name: the build's addon id keeps two builds' copies apart. */
export function addonFileName(id: string): string {
  return `better_sqlite3-${id}.node`;
}

/** Why `dir` must not hold code this process loads, or undefined when it is private to `uid`. */
export function privateDirProblem(dir: string, uid: number): string | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(dir);
  } catch (err) {
    return `${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== uid) return `${dir} belongs to uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o077) !== 0)
    return `${dir} has mode ${(st.mode & 0o777).toString(8)}, open to group or others`;
  return undefined;
}

/**
 * The directory the addon is kept in between runs: root's state directory; for other users
 * $XDG_RUNTIME_DIR/islet when that runtime directory is theirs and private, else a per-user
 * directory in the temp directory (`tmp()`).
 */
export function addonCacheDir(uid: number, env: NodeJS.ProcessEnv, tmp: () => string): string {
  if (uid === 0) return ROOT_ADDON_DIR;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime) && privateDirProblem(runtime, uid) === undefined)
    return join(runtime, 'islet');
  return join(tmp(), `islet-${uid}`);
}

/** os.tmpdir(), loading node:os only when asked: root's CNI calls never need it (~0.2 ms each). */
function tmpdir(): string {
  return process.getBuiltinModule('node:os').tmpdir();
}

/**
 * Creates `dir` private (0700, whatever the umask) unless it exists; then checks it. Checked first:
 * it exists on every call but the first, and a mkdir failing with EEXIST costs a thrown error.
 */
function ensurePrivateDir(dir: string, uid: number): string | undefined {
  const problem = privateDirProblem(dir, uid);
  if (problem === undefined || existsSync(dir)) return problem;
  try {
    mkdirSync(dir, { mode: 0o700, recursive: uid === 0 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return `${dir}: ${(err as Error).message}`;
  }
  return privateDirProblem(dir, uid);
}

function isOwnCopy(file: string, uid: number, size: number): boolean {
  try {
    const st = lstatSync(file);
    return st.isFile() && st.uid === uid && (st.mode & 0o022) === 0 && st.size === size;
  } catch {
    return false;
  }
}

/** Writes the asset beside `file` and renames it into place: parallel CNI calls all see a whole file. */
function writeCopy(dir: string, file: string, bytes: Uint8Array): void {
  const tmp = join(dir, `.${process.pid}-${Date.now()}.tmp`);
  // O_EXCL: never writes through a file that is already there.
  const fd = openSync(tmp, 'wx', 0o500);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function dlopen(file: string): object {
  const mod = { exports: {} as object };
  process.dlopen(mod, file);
  return mod.exports;
}

/** Loads the addon from the single executable's asset, by the rules above. */
export function loadEmbeddedAddon(asset: ArrayBuffer, id: string): object {
  const uid = process.getuid?.() ?? -1;
  const bytes = new Uint8Array(asset);
  const dir = addonCacheDir(uid, process.env, tmpdir);
  const problem = ensurePrivateDir(dir, uid);
  if (problem === undefined) {
    const file = join(dir, addonFileName(id));
    if (!isOwnCopy(file, uid, bytes.length)) writeCopy(dir, file, bytes);
    return dlopen(file);
  }
  // Someone else holds the usual place (or made it public): a fresh private directory for this
  // process alone, removed again once loaded (the mapping outlives the file).
  process.stderr.write(`islet: not using ${dir} for the SQLite addon (${problem}); using a private copy\n`);
  const once = mkdtempSync(join(tmpdir(), `islet-${uid}-`));
  try {
    const onceProblem = privateDirProblem(once, uid);
    if (onceProblem) throw new Error(`no private directory for the SQLite addon: ${onceProblem}`);
    const file = join(once, addonFileName(id));
    writeCopy(once, file, bytes);
    return dlopen(file);
  } finally {
    rmSync(once, { recursive: true, force: true });
  }
}
