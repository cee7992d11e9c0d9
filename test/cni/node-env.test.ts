import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, requireRoot, resultIps, SYSTEM_CNI_DIR } from './lab.js';
import { run } from './process.js';
import { useLab } from './suite.js';

// containerd and kubelet hand their own environment to every plugin they run. Whatever Node
// variables that environment holds, dist/islet must start as it always does (valid CNI output,
// nothing Node-made on stderr or on disk), and the delegates it runs must still get them all.

/** A runtime environment full of Node settings that would each change how a node process starts. */
function nodeEnv(lab: CniLab): Record<string, string> {
  return {
    NODE_OPTIONS: '--require /nonexistent-islet-preload.js',
    NODE_EXTRA_CA_CERTS: '/nonexistent-islet-ca.pem',
    NODE_DEBUG: '*',
    NODE_PATH: '/nonexistent-islet-node-path',
    NODE_V8_COVERAGE: join(lab.dir, 'v8-coverage'),
    NODE_REDIRECT_WARNINGS: join(lab.dir, 'node-warnings.txt'),
    UV_THREADPOOL_SIZE: '3',
  };
}

/** The IPAM delegate: writes the environment it got, then is host-local. */
const ENV_DUMP_IPAM = 'envdump';

function envDumpScript(lab: CniLab): string {
  return `#!/bin/sh
env > '${lab.flagFile('env')}.'"$CNI_COMMAND"
exec ${SYSTEM_CNI_DIR}/host-local
`;
}

/** Lines Node itself writes for NODE_DEBUG ("MODULE 123: ...") or as warnings. */
function nodeChatter(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => /^[A-Z0-9_]+ \d+: /.test(l) || /^(\(node:\d+\) )?Warning: /.test(l));
}

function dumpedEnv(lab: CniLab, command: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of readFileSync(`${lab.flagFile('env')}.${command}`, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

describe('the CNI plugin under a runtime environment with Node variables', () => {
  let lab: CniLab;
  useLab('all', { tag: 'nenv', secondOctet: 241, bridge: false }, (made) => (lab = made));

  it('VERSION answers the spec JSON with a silent stderr', async () => {
    const env = nodeEnv(lab);
    // Through a pipe, as containerd (Go's os/exec) hands stdin to a plugin.
    const r = await run(
      'sh',
      ['-c', 'printf %s "$1" | exec "$2"', 'sh', '{"cniVersion":"1.0.0"}', join(lab.binDir, 'islet')],
      { env: lab.baseEnv({ CNI_COMMAND: 'VERSION', ...env }) },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).supportedVersions).toEqual(
      expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']),
    );
    expect(existsSync(env.NODE_V8_COVERAGE!)).toBe(false);
    expect(existsSync(env.NODE_REDIRECT_WARNINGS!)).toBe(false);
  });
});

describe.skipIf(!requireRoot('cni/node-env'))('ADD and DEL under cnitool with Node variables set', () => {
  let lab: CniLab;
  useLab('all', { tag: 'nenv', secondOctet: 241 }, (made) => {
    lab = made;
    lab.writePlugin(ENV_DUMP_IPAM, envDumpScript(lab));
  });

  it('wrapper and recorder work, and the delegate IPAM still sees every variable as the runtime set it', async () => {
    const env = nodeEnv(lab);
    const net = 'nodeenv';
    lab.conflist({ name: net, isletIpam: { delegate: lab.hostLocal({ type: ENV_DUMP_IPAM }) } });
    const pod = newPod('node-env');
    const ns = await lab.netns();

    const add = await lab.cnitool('add', net, ns, { pod, env });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(nodeChatter(add.stderr)).toEqual([]);
    const [ip] = resultIps(add.json);
    expect(ip?.startsWith(`${lab.prefix}.`)).toBe(true);
    expect(await lab.addressesIn(ns)).toEqual([ip]);
    const seenAtAdd = dumpedEnv(lab, 'ADD');
    for (const [name, value] of Object.entries(env)) expect(seenAtAdd.get(name), name).toBe(value);

    const del = await lab.cnitool('del', net, ns, { pod, env });
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(nodeChatter(del.stderr)).toEqual([]);
    expect(lab.reservations(net).size).toBe(0);
    const seenAtDel = dumpedEnv(lab, 'DEL');
    for (const [name, value] of Object.entries(env)) expect(seenAtDel.get(name), name).toBe(value);

    // Node wrote nothing of its own: no coverage profiles, no redirected warnings.
    expect(existsSync(env.NODE_V8_COVERAGE!)).toBe(false);
    expect(existsSync(env.NODE_REDIRECT_WARNINGS!)).toBe(false);
  });
});
