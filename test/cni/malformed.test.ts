import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, requireRoot, resultIps } from './lab.js';
import { useLab } from './suite.js';

// Malformed input: bad environment and bad stdin, run against dist/islet directly (the way a
// runtime execs it). Every case must exit non-zero with exactly one JSON error object on stdout
// carrying the right code; logs go to stderr only. No network is touched, so no root needed.

interface Case {
  name: string;
  code: number;
  /** Environment changes against a complete IPAM-wrapper ADD (undefined deletes the variable). */
  env?: Record<string, string | undefined>;
  /** stdin: a string as is, or changes merged into the valid config (undefined deletes a key). */
  stdin?: string | ((valid: Record<string, unknown>, lab: CniLab) => unknown);
  /** Text the error message must contain. */
  msg?: string;
  /** Prepares the lab (the case's database path, delegates) before the call. */
  prepare?: (lab: CniLab, database: string) => void;
}

function ipamOf(config: Record<string, unknown>): Record<string, unknown> {
  return config.ipam as Record<string, unknown>;
}

function withIpam(patch: Record<string, unknown>) {
  return (valid: Record<string, unknown>) => ({ ...valid, ipam: { ...ipamOf(valid), ...patch } });
}

const cases: Case[] = [
  // environment (libcni skel: code 4 names the missing variables)
  {
    name: 'ADD without CNI_CONTAINERID',
    code: 4,
    env: { CNI_CONTAINERID: undefined },
    msg: 'CNI_CONTAINERID',
  },
  { name: 'ADD with empty CNI_CONTAINERID', code: 4, env: { CNI_CONTAINERID: '' }, msg: 'CNI_CONTAINERID' },
  { name: 'ADD without CNI_NETNS', code: 4, env: { CNI_NETNS: undefined }, msg: 'CNI_NETNS' },
  { name: 'ADD without CNI_IFNAME', code: 4, env: { CNI_IFNAME: undefined }, msg: 'CNI_IFNAME' },
  { name: 'ADD without CNI_PATH', code: 4, env: { CNI_PATH: undefined }, msg: 'CNI_PATH' },
  {
    name: 'ADD without CNI_NETNS and CNI_IFNAME (both named)',
    code: 4,
    env: { CNI_NETNS: undefined, CNI_IFNAME: undefined },
    msg: 'CNI_NETNS,CNI_IFNAME',
  },
  {
    name: 'CHECK without CNI_NETNS',
    code: 4,
    env: { CNI_COMMAND: 'CHECK', CNI_NETNS: undefined },
    msg: 'CNI_NETNS',
  },
  {
    name: 'DEL without CNI_CONTAINERID',
    code: 4,
    env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: undefined },
    msg: 'CNI_CONTAINERID',
  },
  {
    name: 'DEL without CNI_IFNAME',
    code: 4,
    env: { CNI_COMMAND: 'DEL', CNI_IFNAME: undefined },
    msg: 'CNI_IFNAME',
  },
  { name: 'GC without CNI_PATH', code: 4, env: { CNI_COMMAND: 'GC', CNI_PATH: undefined }, msg: 'CNI_PATH' },
  {
    name: 'STATUS without CNI_PATH',
    code: 4,
    env: { CNI_COMMAND: 'STATUS', CNI_PATH: undefined },
    msg: 'CNI_PATH',
  },
  { name: 'empty CNI_COMMAND', code: 4, env: { CNI_COMMAND: '' }, msg: 'CNI_COMMAND' },
  { name: 'unknown CNI_COMMAND', code: 4, env: { CNI_COMMAND: 'FROB' }, msg: 'FROB' },
  { name: 'lower-case CNI_COMMAND', code: 4, env: { CNI_COMMAND: 'add' } },
  { name: 'container id with a slash', code: 4, env: { CNI_CONTAINERID: 'abc/def' } },
  { name: 'container id with a space', code: 4, env: { CNI_CONTAINERID: 'abc def' } },
  { name: 'container id starting with a dash', code: 4, env: { CNI_CONTAINERID: '-abc' } },
  { name: 'ifname longer than 15 bytes', code: 4, env: { CNI_IFNAME: 'eth0123456789012' } },
  { name: 'ifname "."', code: 4, env: { CNI_IFNAME: '.' } },
  { name: 'ifname ".."', code: 4, env: { CNI_IFNAME: '..' } },
  { name: 'ifname with a slash', code: 4, env: { CNI_IFNAME: 'eth/0' } },
  { name: 'ifname with a colon', code: 4, env: { CNI_IFNAME: 'eth:0' } },
  { name: 'ifname with whitespace', code: 4, env: { CNI_IFNAME: 'eth 0' } },
  // stdin that is not a JSON object (6)
  { name: 'empty stdin', code: 6, stdin: '' },
  { name: 'truncated JSON', code: 6, stdin: '{"cniVersion":"1.0.0","name":"x"' },
  { name: 'a JSON array', code: 6, stdin: '[]' },
  { name: 'a JSON string', code: 6, stdin: '"config"' },
  { name: 'JSON null', code: 6, stdin: 'null' },
  { name: 'binary garbage', code: 6, stdin: '\u0000\u0001\u00ff\u00fe not json' },
  { name: 'cniVersion is a number', code: 6, stdin: (v) => ({ ...v, cniVersion: 1 }) },
  // versions (1)
  { name: 'unknown cniVersion 9.9.9', code: 1, stdin: (v) => ({ ...v, cniVersion: '9.9.9' }) },
  {
    name: 'cniVersion 0.2.0 (below the supported set)',
    code: 1,
    stdin: (v) => ({ ...v, cniVersion: '0.2.0' }),
  },
  { name: 'missing cniVersion (means 0.1.0)', code: 1, stdin: (v) => ({ ...v, cniVersion: undefined }) },
  {
    name: 'CHECK at 0.3.1',
    code: 1,
    env: { CNI_COMMAND: 'CHECK' },
    stdin: (v) => ({ ...v, cniVersion: '0.3.1' }),
  },
  { name: 'GC at 1.0.0', code: 1, env: { CNI_COMMAND: 'GC' }, stdin: (v) => ({ ...v, cniVersion: '1.0.0' }) },
  {
    name: 'STATUS at 1.0.0',
    code: 1,
    env: { CNI_COMMAND: 'STATUS' },
    stdin: (v) => ({ ...v, cniVersion: '1.0.0' }),
  },
  // configuration (7)
  { name: 'network name missing', code: 7, stdin: (v) => ({ ...v, name: undefined }) },
  { name: 'network name with invalid characters', code: 7, stdin: (v) => ({ ...v, name: 'bad name!' }) },
  { name: 'islet IPAM without delegate', code: 7, stdin: withIpam({ delegate: undefined }), msg: 'delegate' },
  { name: 'delegate is a string', code: 7, stdin: withIpam({ delegate: 'host-local' }) },
  {
    name: 'delegate without type',
    code: 7,
    stdin: (v, lab) => withIpam({ delegate: { ...lab.hostLocal(), type: undefined } })(v),
  },
  {
    name: 'snapshotTTL not a duration',
    code: 7,
    stdin: withIpam({ snapshotTTL: 'forever' }),
    msg: 'snapshotTTL',
  },
  {
    name: 'negative delegateTimeout',
    code: 7,
    stdin: withIpam({ delegateTimeout: '-5s' }),
    msg: 'delegateTimeout',
  },
  { name: 'database is not a string', code: 7, stdin: withIpam({ database: 42 }), msg: 'database' },
  { name: 'unknown logLevel', code: 7, stdin: withIpam({ logLevel: 'loud' }) },
  {
    name: 'chained recorder ADD without prevResult',
    code: 7,
    stdin: (v, lab) => ({
      cniVersion: '1.0.0',
      name: v.name,
      ...lab.recorder(),
      database: ipamOf(v).database,
    }),
    msg: 'prevResult',
  },
  {
    name: 'delegate binary missing from CNI_PATH',
    code: 7,
    stdin: (v, lab) => withIpam({ delegate: { ...lab.hostLocal(), type: 'no-such-ipam' } })(v),
    msg: 'no-such-ipam',
  },
  // storage (5)
  {
    name: 'corrupt database file',
    code: 5,
    prepare: (_lab, database) => {
      mkdirSync(dirname(database), { recursive: true });
      writeFileSync(database, Buffer.alloc(8192, 0x5a));
    },
  },
  {
    name: 'database path is a directory',
    code: 5,
    prepare: (_lab, database) => mkdirSync(database, { recursive: true }),
  },
  // a delegate that answers garbage (100) rather than a CNI result
  {
    name: 'delegate prints garbage',
    code: 100,
    prepare: (lab) => lab.writePlugin('garbage-ipam', '#!/bin/sh\necho "this is not a CNI result"\n'),
    stdin: (v, lab) => withIpam({ delegate: { ...lab.hostLocal(), type: 'garbage-ipam' } })(v),
  },
];

function dropUndefined<T extends Record<string, unknown>>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

describe('islet rejects malformed input with one JSON error on stdout', () => {
  let lab: CniLab;
  const net = 'malformed';

  useLab('all', { tag: 'bad', secondOctet: 235, bridge: false }, (made) => (lab = made));

  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$name → code $code', async (c) => {
    // every case gets its own database so a corrupt one cannot leak into the next
    const database = join(lab.dir, 'db', c.name.replace(/\W+/g, '_'), 'ipam.db');
    c.prepare?.(lab, database);
    const valid = JSON.parse(lab.ipamStdin(net, '1.0.0', { database })) as Record<string, unknown>;
    const stdinValue = typeof c.stdin === 'function' ? c.stdin(valid, lab) : (c.stdin ?? valid);
    // JSON.stringify leaves out keys whose value is undefined: that is how a case deletes one
    const stdin = typeof stdinValue === 'string' ? stdinValue : JSON.stringify(stdinValue);
    const base = lab.ipamEnv('ADD', 'c-malformed', newPod('bad-0'), '/var/run/netns/islet-malformed-none');
    const env = dropUndefined({ ...base, ...c.env }) as Record<string, string>;
    const before = c.prepare ? readFileSyncSafe(database) : undefined;

    const r = await lab.islet(env, stdin);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.code).not.toBeNull();
    let parsed: unknown;
    expect(
      () => {
        parsed = JSON.parse(r.stdout);
      },
      `stdout must be exactly one JSON object, got: ${JSON.stringify(r.stdout)}`,
    ).not.toThrow();
    expect(typeof parsed).toBe('object');
    expect(Array.isArray(parsed)).toBe(false);
    const err = parsed as { cniVersion: unknown; code: unknown; msg: unknown; details?: unknown };
    expect(err.code, r.stdout).toBe(c.code);
    expect(typeof err.cniVersion).toBe('string');
    expect(typeof err.msg).toBe('string');
    expect((err.msg as string).length).toBeGreaterThan(0);
    if (c.msg) expect(`${err.msg} ${err.details ?? ''}`).toContain(c.msg);
    // nothing was reserved in the delegate on the way to the error
    expect(lab.reservations(net).size).toBe(0);
    // a corrupt database is reported, never rewritten
    if (before !== undefined) expect(readFileSyncSafe(database)).toEqual(before);
  });

  it('VERSION needs only CNI_COMMAND, ignores stdin, and lists 0.3.0 … 1.1.0', async () => {
    const r = await lab.islet({ CNI_COMMAND: 'VERSION' }, 'not json at all');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.supportedVersions).toEqual(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    expect(typeof r.json?.cniVersion).toBe('string');
  });

  it('unknown fields in the configuration are tolerated', async () => {
    const stdin = JSON.parse(lab.ipamStdin(net, '1.1.0')) as Record<string, unknown>;
    stdin.somethingNew = { nested: true };
    (stdin.ipam as Record<string, unknown>).futureKnob = 'x';
    const r = await lab.islet({ CNI_COMMAND: 'STATUS', CNI_PATH: lab.cniPath }, stdin);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

function readFileSyncSafe(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

describe.skipIf(!requireRoot('cni/malformed read-only database'))('islet with a read-only database', () => {
  let lab: CniLab;
  const net = 'rodb';
  useLab('all', { tag: 'rodb', secondOctet: 235, bridge: false }, (made) => (lab = made));

  it('answers code 5, reserves nothing in the delegate, and leaves committed snapshots intact', async () => {
    const pod = newPod('ro-0');
    const stdin = lab.ipamStdin(net);
    const ip = await lab.ipamAddress('ro-first', pod, stdin);
    expect((await lab.ipam('DEL', 'ro-first', pod, stdin)).code).toBe(0);

    await lab.mountReadOnly(dirname(lab.dbPath));
    const other = await lab.ipam('ADD', 'ro-other', newPod('ro-1'), stdin);
    expect(other.code).not.toBe(0);
    expect(other.json?.code, other.stdout + other.stderr).toBe(5);
    expect(lab.reservations(net).size).toBe(0);
    await lab.unmount(dirname(lab.dbPath));

    const back = await lab.ipam('ADD', 'ro-second', pod, stdin);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(resultIps(back.json)).toEqual([ip]);
    expect(lab.integrityCheck()).toBe('ok');
  });
});
