// Makes a Node single executable application from a main script and its assets, the way
// dist/islet is made (scripts/build.mjs) and the benchmarks make their reference plugins
// (scripts/bench/cri.ts): `node --experimental-sea-config` writes the blob, postject injects it
// into a copy of this node binary (debug symbols stripped when `strip` exists: ~13 MB smaller,
// nothing at run time needs them) in which the variables Node reads while it starts are renamed
// away (scripts/sea-env.mjs), so a runtime's environment cannot change how the executable starts.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { renameStartupEnv } from './sea-env.mjs';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const require = createRequire(import.meta.url);

/**
 * Writes `out`, a single executable that runs `main` (a CommonJS script whose require() reaches
 * built-in modules only) with `assets` (name → file) readable through node:sea. `work` is a
 * private scratch directory for the blob and the config. The main's V8 code cache is made at
 * build time: no ExperimentalWarning, which would reach a CNI runtime's logs.
 */
export function makeSea({ main, assets = {}, out, work }) {
  const blob = join(work, 'sea.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      assets,
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { cwd: work, stdio: 'pipe' });
  copyFileSync(process.execPath, out);
  chmodSync(out, 0o755);
  try {
    execFileSync('strip', [out], { stdio: 'pipe' });
  } catch {
    // No binutils: the binary is just larger.
  }
  writeFileSync(out, renameStartupEnv(readFileSync(out)), { mode: 0o755 });
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist/cli.js');
  execFileSync(process.execPath, [postject, out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    stdio: 'pipe',
  });
  return out;
}
