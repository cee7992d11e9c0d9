// The V8 code caches the single executable compiles its bundles with (cmd/sea-main.ts). A cache
// made right after compiling (what a SEA's `useCodeCache` does) holds only a script's top level:
// every function a CNI call runs would still be parsed and compiled by every call. So the build
// trains the cache instead: it runs real calls of the bundle under this node (the binary the
// executable is made from, so V8 and its flags match) with a clean environment, each call starting
// from the cache the previous one left and writing the cache V8 holds at its exit
// (scripts/code-cache-trainer.cjs). The last cache has every function those calls ran, compiled.
// Every function in a cache is deserialized by every start that uses it, so the calls can train
// several caches of one bundle (one per CNI verb a runtime calls on every sandbox, ADD and DEL,
// and one for the rest): an ADD does not pay for DEL's functions. A cache V8 does not accept is
// never fatal at run time (it compiles from source, and says so); the build checks the finished
// binary takes them (scripts/build.mjs).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TRAINER = join(dirname(fileURLToPath(import.meta.url)), 'code-cache-trainer.cjs');

/** Where the CNI delegate of the training calls may be (Debian's package, then the usual place). */
const CNI_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

/**
 * A call: argv after the program, environment (PATH is added), stdin, whether it must exit 0
 * (calls that exercise error answers exit 1 by design), and the cache it trains ('' unless named).
 */
/** @typedef {{ args?: string[], env?: Record<string, string>, input?: string, mustSucceed?: boolean, cache?: string }} Call */

/**
 * Runs `calls` of the bundle file `source` (a function expression, as the executable holds it) one
 * after the other in `work`, next to `addon` (better-sqlite3's native addon, found there as a
 * sibling of the running script). Each call starts from the latest cache of its name and leaves
 * the next; returns the last of each name.
 * @param {{ source: string, calls: Call[], work: string, addon: string }} o
 * @returns {Map<string, Buffer>}
 */
export function trainCodeCaches({ source, calls, work, addon }) {
  mkdirSync(work, { recursive: true });
  const trainer = join(work, 'trainer.cjs');
  copyFileSync(TRAINER, trainer);
  copyFileSync(addon, join(work, 'better_sqlite3.node'));
  /** @type {Map<string, string>} */
  const latest = new Map();
  calls.forEach((call, i) => {
    const name = call.cache ?? '';
    const cache = latest.get(name);
    const out = join(work, `cache-${i}`);
    const r = spawnSync(process.execPath, [trainer, ...(call.args ?? [])], {
      cwd: work,
      input: call.input ?? '',
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...call.env,
        ISLET_TRAIN_SOURCE: source,
        ISLET_TRAIN_CACHE_OUT: out,
        ...(cache ? { ISLET_TRAIN_CACHE_IN: cache } : {}),
      },
    });
    const failed = r.status === null || r.status === 70 || (call.mustSucceed !== false && r.status !== 0);
    if (failed || !existsSync(out)) {
      throw new Error(
        `training call ${i} (${JSON.stringify(call.env ?? call.args)}) exited ${r.status ?? r.signal}: ${r.stderr}${r.stdout}`,
      );
    }
    latest.set(name, out);
  });
  return new Map([...latest].map(([name, file]) => [name, readFileSync(file)]));
}

/**
 * The calls a node's runtime makes of the plugin, in both roles, as `islet install` configures it:
 * VERSION; as IPAM wrapper over host-local ADD (a fresh address), CHECK, DEL, ADD again (the
 * snapshot's address asked for), DEL; as chained recorder ADD, CHECK, DEL. ADDs train the cache
 * 'ADD', DELs 'DEL', the rest ''. GC, STATUS and error answers are left out: rare, and each
 * function in a cache costs every call that uses it. The delegate is Debian's host-local when it is
 * installed; without it the wrapper's calls still run up to the delegate and answer its absence.
 * All state (host-local's reservations, the database) stays in `work`.
 * @returns {Call[]}
 */
export function cniTrainingCalls(work) {
  const pluginDir = CNI_PLUGIN_DIRS.find((d) => existsSync(join(d, 'host-local')));
  const name = 'islet-training';
  const database = join(work, 'training.db');
  const delegate = {
    type: 'host-local',
    ranges: [[{ subnet: '10.255.255.0/24', gateway: '10.255.255.1' }]],
    dataDir: join(work, 'host-local'),
  };
  const wrapper = (cniVersion, extra = {}) =>
    JSON.stringify({
      cniVersion,
      name,
      type: 'bridge',
      bridge: 'islet-training',
      ipam: { type: 'islet', delegate, database, linkStateFile: join(work, 'link.json') },
      ...extra,
    });
  const result = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '0a:58:0a:ff:ff:02', sandbox: join(work, 'netns') }],
    ips: [{ address: '10.255.255.2/24', gateway: '10.255.255.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.255.255.1' }],
    dns: {},
  };
  const recorder = (cniVersion, prevResult) =>
    JSON.stringify({ cniVersion, name, type: 'islet', database, ...(prevResult ? { prevResult } : {}) });
  const env = (command) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'islet-training-sandbox',
    CNI_NETNS: join(work, 'netns'),
    CNI_IFNAME: 'eth0',
    CNI_PATH: pluginDir ?? join(work, 'no-plugins'),
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=training;K8S_POD_NAME=pod;K8S_POD_UID=uid-1',
  });
  const delegated = pluginDir !== undefined;
  const calls = [
    { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' },
    { env: env('ADD'), input: wrapper('1.0.0'), mustSucceed: delegated },
    { env: env('CHECK'), input: wrapper('1.0.0', { prevResult: result }), mustSucceed: false },
    { env: env('DEL'), input: wrapper('1.0.0'), mustSucceed: delegated },
    { env: env('ADD'), input: wrapper('1.0.0'), mustSucceed: delegated },
    { env: env('DEL'), input: wrapper('1.0.0'), mustSucceed: delegated },
    { env: env('ADD'), input: recorder('1.0.0', result) },
    { env: env('CHECK'), input: recorder('1.0.0', result) },
    { env: env('DEL'), input: recorder('1.0.0') },
  ];
  for (const call of calls) {
    const verb = call.env.CNI_COMMAND;
    if (verb === 'ADD' || verb === 'DEL') call.cache = verb;
  }
  return calls;
}
