import { describe, expect, it } from 'vitest';
import { CniError } from './errors.js';
import { dispatch, type PluginVerbs, type SkelIo } from './skel.js';
import type { CmdArgs } from './types.js';

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'x', ...extra });

const fullEnv = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

interface Run {
  code: number;
  stdout: string;
  calls: CmdArgs[];
}

async function run(
  env: Record<string, string | undefined>,
  stdin: string | undefined,
  verbs?: Partial<PluginVerbs>,
): Promise<Run> {
  const calls: CmdArgs[] = [];
  let stdout = '';
  const record = async (a: CmdArgs) => {
    calls.push(a);
  };
  const io: SkelIo = {
    env,
    stdinIsPiped: stdin !== undefined,
    readStdin: () => Buffer.from(stdin ?? ''),
    writeStdout: (t) => {
      stdout += t;
    },
  };
  const code = await dispatch(
    {
      add: async (a) => {
        calls.push(a);
        return { cniVersion: a.conf.cniVersion, ips: [] };
      },
      del: record,
      check: record,
      gc: record,
      status: record,
      ...verbs,
    },
    io,
  );
  return { code, stdout, calls };
}

function single(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('skel: one JSON answer and the right code', () => {
  const cases: [string, Record<string, string | undefined>, string | undefined, number, RegExp?][] = [
    ['no CNI_COMMAND', {}, conf(), 4, /\[CNI_COMMAND\]/],
    ['unknown command', { ...fullEnv, CNI_COMMAND: 'FROB' }, conf(), 4, /unknown CNI_COMMAND: FROB/],
    [
      'ADD missing everything else',
      { CNI_COMMAND: 'ADD' },
      conf(),
      4,
      /\[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH\]/,
    ],
    ['ADD missing netns', { ...fullEnv, CNI_NETNS: '' }, conf(), 4, /\[CNI_NETNS\]/],
    [
      'CHECK missing path',
      { ...fullEnv, CNI_COMMAND: 'CHECK', CNI_PATH: undefined },
      conf(),
      4,
      /\[CNI_PATH\]/,
    ],
    ['DEL missing ifname', { ...fullEnv, CNI_COMMAND: 'DEL', CNI_IFNAME: '' }, conf(), 4, /\[CNI_IFNAME\]/],
    ['GC missing path', { CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0' }), 4, /\[CNI_PATH\]/],
    ['bad JSON', fullEnv, '{"cniVersion":', 6],
    ['JSON array', fullEnv, '[1,2]', 6],
    ['empty stdin', fullEnv, '', 6],
    ['cniVersion not a string', fullEnv, conf({ cniVersion: 1 }), 6],
    ['missing name', fullEnv, JSON.stringify({ cniVersion: '1.0.0', type: 'x' }), 7, /missing network name/],
    ['bad name', fullEnv, conf({ name: 'bad name' }), 7, /invalid characters found in network name/],
    [
      'bad container id',
      { ...fullEnv, CNI_CONTAINERID: '-abc' },
      conf(),
      4,
      /invalid characters in containerID/,
    ],
    ['container id with slash', { ...fullEnv, CNI_CONTAINERID: 'a/b' }, conf(), 4],
    ['ifname too long', { ...fullEnv, CNI_IFNAME: 'a234567890123456' }, conf(), 4, /too long/],
    ['ifname dot', { ...fullEnv, CNI_IFNAME: '.' }, conf(), 4, /\. or \.\./],
    ['ifname colon', { ...fullEnv, CNI_IFNAME: 'eth:0' }, conf(), 4, /whitespace/],
    ['ifname space', { ...fullEnv, CNI_IFNAME: 'eth 0' }, conf(), 4],
    ['unsupported version', fullEnv, conf({ cniVersion: '0.2.0' }), 1, /incompatible CNI versions/],
    ['missing version means 0.1.0', fullEnv, JSON.stringify({ name: 'n', type: 'x' }), 1],
    ['malformed version', fullEnv, conf({ cniVersion: 'one' }), 6],
    [
      'CHECK on 0.3.1',
      { ...fullEnv, CNI_COMMAND: 'CHECK' },
      conf({ cniVersion: '0.3.1' }),
      1,
      /does not allow CHECK/,
    ],
    ['GC on 1.0.0', { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf(), 1, /does not allow GC/],
    ['STATUS on 0.4.0', { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf({ cniVersion: '0.4.0' }), 1],
  ];
  for (const [what, env, stdin, code, msg] of cases) {
    it(`${what} → code ${code}`, async () => {
      const r = await run(env, stdin);
      expect(r.code).toBe(1);
      expect(r.calls).toHaveLength(0);
      const out = single(r.stdout);
      expect(out.code).toBe(code);
      expect(Object.keys(out).sort()).toEqual(['cniVersion', 'code', 'details', 'msg']);
      if (msg) expect(String(out.msg)).toMatch(msg);
    });
  }

  it('empty container id with the variable set to "" is reported as missing (code 4), as libcni does', async () => {
    const r = await run({ ...fullEnv, CNI_CONTAINERID: '' }, conf());
    expect(single(r.stdout).code).toBe(4);
  });

  it('DEL accepts an empty netns', async () => {
    const r = await run({ ...fullEnv, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, conf());
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.calls[0]?.netns).toBe('');
  });

  it('GC and STATUS need neither container id nor ifname', async () => {
    for (const cmd of ['GC', 'STATUS']) {
      const r = await run({ CNI_COMMAND: cmd, CNI_PATH: '/a:/b' }, conf({ cniVersion: '1.1.0' }));
      expect(r.code).toBe(0);
      expect(r.calls[0]?.path).toEqual(['/a', '/b']);
    }
  });

  it('ADD prints the verb result; a thrown CniError keeps its code; other errors are 999', async () => {
    const ok = await run(fullEnv, conf());
    expect(single(ok.stdout)).toEqual({ cniVersion: '1.0.0', ips: [] });
    const cni = await run(fullEnv, conf(), {
      add: async () => {
        throw new CniError(11, 'later', 'why');
      },
    });
    expect(single(cni.stdout)).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'later', details: 'why' });
    const other = await run(fullEnv, conf(), {
      add: async () => {
        throw new Error('boom');
      },
    });
    expect(single(other.stdout)).toMatchObject({ code: 999, msg: 'boom' });
  });

  it('VERSION needs only CNI_COMMAND and echoes a supported request version', async () => {
    const plain = await run({ CNI_COMMAND: 'VERSION' }, undefined);
    expect(single(plain.stdout)).toEqual({
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
    const asked = await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(single(asked.stdout).cniVersion).toBe('0.4.0');
    const garbage = await run({ CNI_COMMAND: 'VERSION' }, 'nonsense');
    expect(single(garbage.stdout).cniVersion).toBe('1.1.0');
  });
});
