// The least a CNI plugin written in Node can do in islet's place, made into a single executable
// the way dist/islet is (scripts/bench/floor-plugin.ts): as IPAM wrapper it runs the delegate named
// in ipam.delegate with the same environment and hands back its answer; as chained plugin it
// passes prevResult on. No validation, no state, no log: what the benchmarks measure with it is
// the price of a Node process per plugin run, the floor under any Node-based islet. It starts the
// delegate through the spawn_sync binding, as islet does (node:child_process costs ~5 ms a start).
'use strict';
const { existsSync, readFileSync, writeSync } = require('node:fs');

const env = process.env;
if (env.CNI_COMMAND === 'VERSION') {
  writeSync(1, '{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}');
  process.exit(0);
}
const conf = JSON.parse(readFileSync(0, 'utf8'));
if (conf.ipam?.delegate) {
  const request = { ...conf, ipam: conf.ipam.delegate };
  const type = String(request.ipam.type);
  const dir = (env.CNI_PATH ?? '').split(':').find((d) => d !== '' && existsSync(`${d}/${type}`));
  const file = `${dir}/${type}`;
  const r = process.binding('spawn_sync').spawn({
    file,
    args: [file],
    envPairs: Object.keys(env).map((k) => `${k}=${env[k]}`),
    stdio: [
      { type: 'pipe', readable: true, writable: false, input: Buffer.from(JSON.stringify(request)) },
      { type: 'pipe', readable: false, writable: true },
      { type: 'pipe', readable: false, writable: true },
    ],
    windowsHide: false,
    windowsVerbatimArguments: false,
  });
  if (r.output?.[1]?.length) writeSync(1, r.output[1]);
  process.exit(r.status ?? 1);
}
if (env.CNI_COMMAND === 'ADD') writeSync(1, JSON.stringify(conf.prevResult));
process.exit(0);
