#!/usr/bin/env node
// Builds dist/islet, a Node single executable application (design.md §5):
//   1. esbuild bundles cmd/islet.ts (and everything it imports, node_modules included) into one
//      CommonJS file: SEA's injected main can only require() built-in modules.
//   2. `node --experimental-sea-config` turns it into a blob with a V8 code cache and
//      better-sqlite3's native addon as the asset "better_sqlite3.node" (lib/sqlite.ts dlopens it).
//   3. postject injects the blob into a copy of this node binary (debug symbols stripped when
//      `strip` exists: ~13 MB smaller, nothing at run time needs them) in which the variables
//      Node reads while it starts (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, ...) are renamed away, so a
//      runtime's environment cannot change how the plugin starts (scripts/sea-env.mjs).
// dist/better_sqlite3.node and dist/islet.cjs (the bundle with a node shebang) stay beside it for
// development. If the SEA steps fail, dist/islet is the bundled script instead and the reason is
// printed; ISLET_BUILD_SEA=0 asks for that script build directly.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { renameStartupEnv } from './sea-env.mjs';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const SHEBANG = '#!/usr/bin/env node\n';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dist = join(root, 'dist');
// Tests run dist/islet while a parallel run may rebuild it: build in a private directory, then
// rename each finished file into place.
const work = join(dist, `.build-${process.pid}`);
mkdirSync(work, { recursive: true });
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const require = createRequire(import.meta.url);
const addon = join(
  dirname(require.resolve('better-sqlite3/package.json')),
  'build/Release/better_sqlite3.node',
);
// The addon's identity, fixed at build time: lib/sqlite.ts names the private copy it extracts from
// the single executable after it, so a CNI call need not hash 2 MB (and load node:crypto) each time.
const addonId = createHash('sha256').update(readFileSync(addon)).digest('hex').slice(0, 16);

/**
 * The entry point imports each mode's main lazily. While a mode is being written by someone else
 * its module may be missing or not compile yet; rather than break everyone's build, that mode is
 * compiled to an error that says why (and the build says so loudly). Errors outside the four
 * modes' own directories (cmd/, lib/) still fail the build.
 */
const modes = {
  'plugins/islet/main.ts': 'plugins/',
  'proxy/main.ts': 'proxy/',
  'daemonset/installer/main.ts': 'daemonset/installer/',
  'daemonset/doctor/main.ts': 'daemonset/doctor/',
  'webhook/main.ts': 'webhook/',
};

function excludeModes(excluded) {
  return {
    name: 'islet-excluded-modes',
    setup(b) {
      b.onResolve({ filter: /\/main\.js$/ }, (args) => {
        const target = relative(root, join(args.resolveDir, args.path.replace(/\.js$/, '.ts')));
        if (!(target in modes)) return undefined;
        if (!excluded.has(target) && existsSync(join(root, target))) return undefined;
        return { path: target, namespace: 'islet-excluded' };
      });
      b.onLoad({ filter: /.*/, namespace: 'islet-excluded' }, (args) => {
        const why = excluded.get(args.path) ?? 'the file does not exist';
        const fail = `throw new Error(${JSON.stringify(`this islet binary was built without ${args.path}: ${why}`)})`;
        return {
          loader: 'js',
          contents: ['main', 'installMain', 'uninstallMain']
            .map((n) => `export async function ${n}() { ${fail}; }`)
            .join('\n'),
        };
      });
    },
  };
}

// Runs before any module: defines import.meta.url for the ESM sources, and keeps a CNI call's
// stderr free of ExperimentalWarnings (the runtime logs a plugin's stderr; stdout is the protocol).
const BANNER = [
  // lib/cni-trace.ts: when tracing, where the bundle's own time starts.
  'if (process.env.ISLET_CNI_TRACE === "1") globalThis.__isletBundleStart = performance.now();',
  'const __islet_import_meta_url = require("node:url").pathToFileURL(__filename).href;',
  'if (process.env.CNI_COMMAND !== undefined) {',
  '  const emitWarning = process.emitWarning;',
  '  process.emitWarning = function (warning, ...rest) {',
  '    const type = typeof rest[0] === "string" ? rest[0] : rest[0]?.type ?? warning?.name;',
  '    if (type === "ExperimentalWarning") return;',
  '    return emitWarning.call(process, warning, ...rest);',
  '  };',
  '}',
].join('\n');

const bundle = join(work, 'islet.cjs');
async function bundleWithout(excluded) {
  return build({
    absWorkingDir: root,
    entryPoints: [join(root, 'cmd/islet.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: BANNER },
    define: {
      'import.meta.url': '__islet_import_meta_url',
      __ISLET_VERSION__: JSON.stringify(pkg.version),
      __ISLET_ADDON_ID__: JSON.stringify(addonId),
    },
    plugins: [excludeModes(excluded)],
    logLevel: 'silent',
    legalComments: 'none',
  });
}

const excluded = new Map();
for (const [target] of Object.entries(modes)) {
  if (!existsSync(join(root, target))) excluded.set(target, 'the file does not exist');
}
for (;;) {
  try {
    await bundleWithout(excluded);
    break;
  } catch (err) {
    const errors = err.errors ?? [];
    let progressed = false;
    for (const e of errors) {
      const file = e.location?.file ? relative(root, join(root, e.location.file)) : '';
      const mode = Object.entries(modes).find(
        ([target, dir]) => !excluded.has(target) && file.startsWith(dir),
      );
      if (!mode) continue;
      excluded.set(mode[0], `${file}:${e.location.line}: ${e.text}`);
      progressed = true;
    }
    if (!progressed) throw err;
  }
}
for (const [target, why] of excluded) {
  console.warn(
    `build: WARNING dist/islet is built without ${target} (${why}); that mode fails with this error`,
  );
}

const script = join(work, 'islet.script');
writeFileSync(script, SHEBANG + readFileSync(bundle, 'utf8'), { mode: 0o755 });

function buildSea() {
  const blob = join(work, 'islet.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundle,
      output: blob,
      // The CNI path needs clean stdout and a quiet stderr: no "single executable" warning.
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      assets: { 'better_sqlite3.node': addon },
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { cwd: work, stdio: 'pipe' });
  const exe = join(work, 'islet.sea');
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  try {
    execFileSync('strip', [exe], { stdio: 'pipe' });
  } catch {
    // No binutils: the binary is just larger.
  }
  writeFileSync(exe, renameStartupEnv(readFileSync(exe)), { mode: 0o755 });
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist/cli.js');
  execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    stdio: 'pipe',
  });
  // A binary that cannot even print its version must never replace a working one.
  const out = execFileSync(exe, ['version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  if (!out.startsWith(`islet ${pkg.version}`))
    throw new Error(`the SEA binary printed ${JSON.stringify(out)}`);
  // ... nor one that a runtime's NODE_OPTIONS would still reach (the rename did not take).
  const hostile = execFileSync(exe, ['version'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '--require /islet-build-check-nonexistent.js' },
  });
  if (hostile !== out)
    throw new Error(`with NODE_OPTIONS set the SEA binary printed ${JSON.stringify(hostile)}`);
  return exe;
}

let built = script;
let kind = 'bundled script';
if (process.env.ISLET_BUILD_SEA !== '0') {
  try {
    built = buildSea();
    kind = 'single executable';
  } catch (err) {
    const detail = err?.stderr?.toString().trim() || err?.message || String(err);
    console.warn(`build: single executable build failed, dist/islet is the bundled script: ${detail}`);
  }
}

copyFileSync(addon, join(work, 'better_sqlite3.node'));
renameSync(join(work, 'better_sqlite3.node'), join(dist, 'better_sqlite3.node'));
if (built === script) copyFileSync(script, join(work, 'islet.cjs.copy'));
renameSync(built === script ? join(work, 'islet.cjs.copy') : script, join(dist, 'islet.cjs'));
renameSync(built, join(dist, 'islet'));
rmSync(work, { recursive: true, force: true });
console.log(`built ${join(dist, 'islet')} (${kind})`);
