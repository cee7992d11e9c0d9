/** The chained recorder in-process: record, pass through in the request's version, CHECK, GC. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../cni/skel.js';
import { isletVerbs } from './main.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-recorder-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const prev040 = {
  cniVersion: '0.4.0',
  interfaces: [{ name: 'eth0', mac: '02:42:ac:11:00:02', sandbox: '/var/run/netns/p' }],
  ips: [{ version: '4', address: '10.4.0.7/24', gateway: '10.4.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.4.0.1' }],
  dns: { nameservers: ['10.4.0.10'] },
};

async function call(command: string, conf: Record<string, unknown>, containerId = 'rec1') {
  let stdout = '';
  const code = await dispatch(isletVerbs, {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: '/var/run/netns/p',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/nonexistent',
      CNI_ARGS: 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p',
    },
    stdinIsPiped: true,
    readStdin: () => Buffer.from(JSON.stringify(conf)),
    writeStdout: (t) => {
      stdout += t;
    },
  });
  return { code, out: stdout === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>) };
}

const conf = (cniVersion: string, prevResult?: unknown, extra: Record<string, unknown> = {}) => ({
  cniVersion,
  name: 'chain',
  type: 'islet',
  database: join(dir, 'r.db'),
  logLevel: 'error',
  ...(prevResult === undefined ? {} : { prevResult }),
  ...extra,
});

describe('chained recorder', () => {
  it('passes prevResult through unchanged in the same version and CHECK agrees', async () => {
    const add = await call('ADD', conf('0.4.0', prev040));
    expect(add).toEqual({ code: 0, out: prev040 });
    expect((await call('CHECK', conf('0.4.0', prev040))).code).toBe(0);
  });

  it('converts to the request version', async () => {
    const add = await call('ADD', conf('1.0.0', prev040));
    expect(add.out).toEqual({
      cniVersion: '1.0.0',
      interfaces: prev040.interfaces,
      ips: [{ address: '10.4.0.7/24', gateway: '10.4.0.1', interface: 0 }],
      routes: prev040.routes,
      dns: prev040.dns,
    });
  });

  it('CHECK fails with 101 when the result changed and 3 when nothing was recorded', async () => {
    await call('ADD', conf('0.4.0', prev040));
    const moved = { ...prev040, ips: [{ ...prev040.ips[0], address: '10.4.0.8/24' }] };
    const changed = await call('CHECK', conf('0.4.0', moved));
    expect(changed.out?.code).toBe(101);
    const unknown = await call('CHECK', conf('0.4.0', prev040), 'never-added');
    expect(unknown.out?.code).toBe(3);
  });

  it('ADD without prevResult is an invalid config (7)', async () => {
    const r = await call('ADD', conf('1.0.0'));
    expect(r.code).toBe(1);
    expect(r.out?.code).toBe(7);
    expect(String(r.out?.msg)).toMatch(/prevResult/);
  });

  it('an invalid prevResult is a decode error (6)', async () => {
    const r = await call('ADD', conf('1.0.0', { cniVersion: '1.0.0', ips: [{ address: 'nonsense' }] }));
    expect(r.out?.code).toBe(6);
  });

  it('DEL forgets the record (repeatable); GC drops records not listed', async () => {
    await call(
      'ADD',
      conf('1.1.0', { ...prev040, cniVersion: '1.1.0', ips: [{ address: '10.4.0.7/24' }] }),
      'a',
    );
    await call(
      'ADD',
      conf('1.1.0', { ...prev040, cniVersion: '1.1.0', ips: [{ address: '10.4.0.9/24' }] }),
      'b',
    );
    expect((await call('DEL', conf('1.1.0'), 'a')).code).toBe(0);
    expect((await call('DEL', conf('1.1.0'), 'a')).code).toBe(0);
    const check = (id: string) =>
      call('CHECK', conf('1.1.0', { cniVersion: '1.1.0', ips: [{ address: '10.4.0.9/24' }] }), id);
    expect((await check('a')).out?.code).toBe(3);
    const gc = await call('GC', conf('1.1.0', undefined, { 'cni.dev/valid-attachments': [] }));
    expect(gc.code).toBe(0);
    expect((await check('b')).out?.code).toBe(3);
  });
});
