// One training call of scripts/code-cache.mjs: compiles a bundle asset exactly as the single
// executable's main does (cmd/sea-main.ts: the same text, vm.Script, the same CommonJS arguments),
// from the cache the previous call left, runs it, and at exit writes the code cache V8 then holds,
// which has every function compiled so far. Its settings come in ISLET_TRAIN_* variables, removed
// before the bundle runs so they reach neither it nor the delegates it starts.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');

const source = process.env.ISLET_TRAIN_SOURCE;
const cacheIn = process.env.ISLET_TRAIN_CACHE_IN;
const cacheOut = process.env.ISLET_TRAIN_CACHE_OUT;
for (const k of ['ISLET_TRAIN_SOURCE', 'ISLET_TRAIN_CACHE_IN', 'ISLET_TRAIN_CACHE_OUT'])
  delete process.env[k];
if (!source || !cacheOut) throw new Error('ISLET_TRAIN_SOURCE and ISLET_TRAIN_CACHE_OUT are required');

const cachedData = cacheIn ? readFileSync(cacheIn) : undefined;
const script = new Script(readFileSync(source, 'latin1'), { filename: source, cachedData });
if (cachedData && script.cachedDataRejected) {
  process.stderr.write(`code-cache-trainer: V8 rejected the cache ${cacheIn}\n`);
  process.exit(70);
}
process.on('exit', () => writeFileSync(cacheOut, script.createCachedData()));
script.runInThisContext()(exports, require, module, __filename, __dirname);
