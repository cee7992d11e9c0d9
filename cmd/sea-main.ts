/**
 * The single executable's main script (scripts/build.mjs). Node compiles a SEA's main whole before
 * any of it runs, so it is kept this small: it picks the bundle this process needs from the
 * executable's assets - the CNI plugin's own (`cni.cjs`, from cmd/cni.ts) when CNI_COMMAND is set,
 * which is how a runtime calls /opt/cni/bin/islet, the whole of islet (`islet.cjs`, from
 * cmd/islet.ts) otherwise - and compiles it with the V8 code cache the build trained for it
 * (scripts/code-cache.mjs; for ADD and DEL, one trained on that verb alone): the functions a CNI
 * call runs arrive compiled instead of being parsed and compiled again by every call. An asset is a function expression taking CommonJS's five
 * arguments; it gets this script's, whose require() reaches built-in modules only.
 */
import { getRawAsset } from 'node:sea';
import { Script } from 'node:vm';

type CodeCacheState = NonNullable<typeof globalThis.__isletLoad>['codeCache'];

// Only when tracing: the global `performance` loads perf_hooks, ten modules a CNI call does not need.
const tracing = process.env.ISLET_CNI_TRACE === '1';
const start = tracing ? performance.now() : 0;
const verb = process.env.CNI_COMMAND;
const bundle = verb !== undefined ? 'cni' : 'islet';
// The bundles are ASCII (the build checks), so latin1 decoding is exact and skips UTF-8 validation.
const source = Buffer.from(getRawAsset(`${bundle}.cjs`) as ArrayBuffer).toString('latin1');
// The cache trained on this CNI verb when there is one (ADD, DEL), else the bundle's own; none at
// all: V8 compiles the bundle lazily, as any script.
const cachedData = (verb !== undefined ? asset(`cni-${verb}.cache`) : undefined) ?? asset(`${bundle}.cache`);
const script = new Script(source, { filename: `${__filename}/${bundle}.cjs`, cachedData });
const codeCache: CodeCacheState =
  cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted';
if (codeCache === 'rejected') {
  // V8 checked the cache against this binary's V8 and flags and compiled from source instead: every
  // call still works, only slower. The build refuses such a binary, so this is worth a line.
  process.stderr.write(`islet: the code cache of ${bundle}.cjs does not fit this binary; compiling it\n`);
}
// For lib/cni-trace.ts: where this step began and ended, and whether V8 took the cache.
if (tracing) globalThis.__isletLoad = { start, end: performance.now(), codeCache };
script.runInThisContext()(exports, require, module, __filename, __dirname);

function asset(name: string): Buffer | undefined {
  try {
    return Buffer.from(getRawAsset(name) as ArrayBuffer);
  } catch {
    return undefined;
  }
}
