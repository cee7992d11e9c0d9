#!/usr/bin/env node
// Builds dist/islet, a Node single executable application (design.md §5):
//   1. esbuild bundles cmd/islet.ts (and everything it imports, node_modules included) into one
//      CommonJS file, islet.cjs, and the CNI plugin alone (cmd/cni.ts) into cni.cjs, about a
//      seventh of it: a CNI call is a fresh process, and every byte of the script it compiles is
//      paid by every call. SEA's injected main can only require() built-in modules.
//   2. Both become assets of the executable, each with a V8 code cache trained by running real
//      calls (scripts/code-cache.mjs), beside better-sqlite3's native addon (lib/sqlite.ts
//      dlopens it); the executable's main, cmd/sea-main.ts, compiles the one a process needs.
//   3. scripts/sea.mjs makes the executable from this node binary, with the variables Node reads
//      while it starts renamed away (scripts/sea-env.mjs).
// dist/better_sqlite3.node and dist/islet.cjs (the whole bundle with a node shebang) stay beside it
// for development. If the SEA steps fail, dist/islet is the bundled script instead and the reason
// is printed; ISLET_BUILD_SEA=0 asks for that script build directly. ISLET_BUILD_KEEP=1 keeps the
// work directory (dist/.build-<pid>: bundles, assets, trained caches) for inspection.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
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
import { cniTrainingCalls, trainCodeCaches } from './code-cache.mjs';
import { makeSea } from './sea.mjs';

const SHEBANG = '#!/usr/bin/env node\n';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dist = join(root, 'dist');
// Tests run dist/islet while a parallel run may rebuild it: build in a private directory, then
// rename each finished file into place.
const work = join(dist, `.build-${process.pid}`);
mkdirSync(work, { recursive: true });
process.on('exit', () =>
  process.env.ISLET_BUILD_KEEP ? undefined : rmSync(work, { recursive: true, force: true }),
);

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
  // A getter: the CNI plugin's code never reads import.meta.url, so its calls do not pay for the URL.
  'const __islet_import_meta = { get url() { return require("node:url").pathToFileURL(__filename).href; } };',
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
const cniBundle = join(work, 'cni.cjs');
const loader = join(work, 'sea-main.cjs');

function esbuildOptions(excluded) {
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: BANNER },
    define: {
      'import.meta.url': '__islet_import_meta.url',
      __ISLET_VERSION__: JSON.stringify(pkg.version),
      __ISLET_ADDON_ID__: JSON.stringify(addonId),
    },
    plugins: [excludeModes(excluded)],
    logLevel: 'silent',
    legalComments: 'none',
  };
}

async function bundleWithout(excluded) {
  await build({ ...esbuildOptions(excluded), entryPoints: [join(root, 'cmd/islet.ts')], outfile: bundle });
  // The plugin's own bundle: the same modules, entered through cmd/cni.ts alone.
  await build({
    ...esbuildOptions(excluded),
    stdin: {
      contents: "import { cniMain } from './cmd/cni.ts';\nvoid cniMain();\n",
      resolveDir: root,
      sourcefile: 'cni-entry.ts',
      loader: 'ts',
    },
    outfile: cniBundle,
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

/**
 * A bundle as the executable holds it: a function expression of CommonJS's five arguments, which
 * cmd/sea-main.ts compiles with vm.Script and calls. ASCII only, so the main decodes it as latin1
 * and V8 keeps it one byte a character: esbuild escapes everything else in code, and the few
 * comments it keeps (a unit table's) lose their non-ASCII letters here.
 */
function asAsset(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    const wide = line.search(/[^\x00-\x7f]/);
    if (wide === -1) continue;
    const comment = line.indexOf('//');
    if (comment === -1 || comment > wide)
      throw new Error(`${file}:${i + 1}: a non-ASCII character outside a comment: ${line.trim()}`);
    lines[i] = line.slice(0, comment) + line.slice(comment).replace(/[^\x00-\x7f]/g, '?');
  }
  const asset = `${file}.asset`;
  const text = `(function (exports, require, module, __filename, __dirname) {\n${lines.join('\n')}\n})`;
  writeFileSync(asset, text, 'latin1');
  return asset;
}

/** Runs the executable with only PATH and `env`; its exit code, stdout and stderr. */
function runExe(exe, args, env = {}, input = '') {
  const r = spawnSync(exe, args, {
    encoding: 'utf8',
    input,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function buildSea() {
  // Per bundle: <name>.cjs, and its caches <name>.cache and <name>-<CNI verb>.cache, which
  // cmd/sea-main.ts looks for first.
  const assets = { 'better_sqlite3.node': addon };
  for (const [name, file, calls] of [
    ['islet', bundle, [{ args: ['version'] }]],
    ['cni', cniBundle, cniTrainingCalls(join(work, 'train-cni'))],
  ]) {
    const source = asAsset(file);
    assets[`${name}.cjs`] = source;
    const caches = trainCodeCaches({ source, calls, work: join(work, `train-${name}`), addon });
    for (const [verb, data] of caches) {
      const asset = verb === '' ? `${name}.cache` : `${name}-${verb}.cache`;
      assets[asset] = join(work, asset);
      writeFileSync(assets[asset], data);
    }
  }
  const exe = makeSea({ main: loader, assets, out: join(work, 'islet.sea'), work });
  // A binary that cannot even print its version must never replace a working one, nor one whose
  // code caches this V8 refuses (it says so on stderr).
  const version = runExe(exe, ['version']);
  if (version.code !== 0 || version.stdout !== `islet ${pkg.version}\n` || version.stderr !== '')
    throw new Error(`the SEA binary's version answer was ${JSON.stringify(version)}`);
  const cni = runExe(exe, [], { CNI_COMMAND: 'VERSION', ISLET_CNI_TRACE: '1' }, '{"cniVersion":"1.0.0"}');
  if (
    cni.code !== 0 ||
    !cni.stdout.includes('supportedVersions') ||
    !cni.stderr.includes('"codeCache":"accepted"')
  )
    throw new Error(`the SEA binary's CNI VERSION answer was ${JSON.stringify(cni)}`);
  // ... nor one that a runtime's NODE_OPTIONS would still reach (the rename did not take).
  const hostile = runExe(exe, ['version'], { NODE_OPTIONS: '--require /islet-build-check-nonexistent.js' });
  if (hostile.stdout !== version.stdout || hostile.stderr !== '')
    throw new Error(`with NODE_OPTIONS set the SEA binary answered ${JSON.stringify(hostile)}`);
  return exe;
}

let built = script;
let kind = 'bundled script';
if (process.env.ISLET_BUILD_SEA !== '0') {
  try {
    await build({
      absWorkingDir: root,
      entryPoints: [join(root, 'cmd/sea-main.ts')],
      outfile: loader,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      logLevel: 'silent',
      legalComments: 'none',
    });
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
if (!process.env.ISLET_BUILD_KEEP) rmSync(work, { recursive: true, force: true });
console.log(`built ${join(dist, 'islet')} (${kind})`);
