import { describe, expect, it } from 'vitest';
import { type CniLab, cnitoolContainerId, newPod, requireRoot, resultIps } from './lab.js';
import { chainResults } from './store.js';
import { useLab } from './suite.js';

// Version matrix: every cniVersion through the chained recorder. Debian's bridge/tuning speak
// up to 1.0.0, so 0.3.0 … 1.0.0 run as real chains under cnitool; 1.1.0 and the conversions
// between versions run the recorder binary directly with a prevResult of the given version.

const CHAIN_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
const ALL_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

const atLeast040 = (v: string) => v !== '0.3.0' && v !== '0.3.1';

/** One IPAM/chain result's content, written in the shape of a given version. */
function resultIn(version: string, extra: { v110?: boolean } = {}): Record<string, unknown> {
  const legacy = !version.startsWith('1.');
  const v110 = extra.v110 && version === '1.1.0';
  return {
    cniVersion: version,
    interfaces: [
      { name: 'islet0', mac: '2a:5c:10:00:00:01' },
      { name: 'veth1234', mac: '2a:5c:10:00:00:02' },
      {
        name: 'eth0',
        mac: '2a:5c:10:00:00:03',
        sandbox: '/var/run/netns/islet-versions',
        ...(v110 ? { mtu: 1400, socketPath: '/run/vhost/eth0.sock' } : {}),
      },
    ],
    ips: [
      { ...(legacy ? { version: '4' } : {}), address: '10.236.0.5/24', gateway: '10.236.0.1', interface: 2 },
      {
        ...(legacy ? { version: '6' } : {}),
        address: 'fd00:236::5/64',
        gateway: 'fd00:236::1',
        interface: 2,
      },
    ],
    routes: [
      {
        dst: '0.0.0.0/0',
        gw: '10.236.0.1',
        ...(v110 ? { mtu: 1400, priority: 100, table: 254, scope: 0 } : {}),
      },
      { dst: '::/0' },
    ],
    dns: {
      nameservers: ['10.236.0.10'],
      domain: 'cluster.local',
      search: ['svc.cluster.local'],
      options: ['ndots:5'],
    },
  };
}

describe.skipIf(!requireRoot('cni/versions'))('chained recorder under cnitool, 0.3.0 … 1.0.0', () => {
  let lab: CniLab;
  useLab('all', { tag: 'ver', secondOctet: 236 }, (made) => (lab = made));

  it.each(CHAIN_VERSIONS)(
    'cniVersion %s: ADD result in that version matches the pod; CHECK (≥0.4.0); DEL',
    async (v) => {
      const net = `ver${v.replace(/\./g, '')}`;
      lab.conflist({ name: net, cniVersion: v });
      const pod = newPod(`ver-${v.replace(/\./g, '')}`);
      const ns = await lab.netns();
      const add = await lab.cnitool('add', net, ns, { pod });
      expect(add.code, add.stderr + add.stdout).toBe(0);
      const result = add.json!;
      expect(result.cniVersion).toBe(v);
      const ips = result.ips as Array<Record<string, unknown>>;
      expect(ips).toHaveLength(1);
      if (v.startsWith('0.')) expect(ips[0]?.version).toBe('4');
      else expect(ips[0]).not.toHaveProperty('version');
      const interfaces = result.interfaces as Array<{ name: string; mac: string; sandbox?: string }>;
      const podIf = interfaces[ips[0]?.interface as number];
      expect(podIf?.name).toBe('eth0');
      expect(podIf?.sandbox).toBe(ns.path);
      expect(podIf?.mac).toBe(await lab.macIn(ns));
      expect(interfaces.map((i) => i.name)).toContain(lab.bridge);
      expect(await lab.addressesIn(ns)).toEqual(resultIps(result));

      // the recorder kept the final result, in the request's version
      const recorded = chainResults(lab, net).find((r) => r.container_id === cnitoolContainerId(ns));
      expect(recorded?.cni_version).toBe(v);
      expect(recorded?.ifname).toBe('eth0');

      if (atLeast040(v)) {
        const check = await lab.cnitool('check', net, ns, { pod });
        expect(check.code, check.stderr + check.stdout).toBe(0);
      }
      const del = await lab.cnitool('del', net, ns, { pod });
      expect(del.code, del.stderr + del.stdout).toBe(0);
      expect(lab.reservations(net).size).toBe(0);
    },
  );
});

describe('chained recorder run directly: round trips and conversions, 0.3.0 … 1.1.0', () => {
  let lab: CniLab;
  const net = 'recorder';
  useLab('all', { tag: 'rec', secondOctet: 236, bridge: false }, (made) => (lab = made));

  function env(command: string, containerId: string): Record<string, string> {
    return lab.ipamEnv(command, containerId, newPod('rec-0'), '/var/run/netns/islet-versions');
  }

  function config(version: string, prevResult: Record<string, unknown>): Record<string, unknown> {
    return { cniVersion: version, name: net, ...lab.recorder(), prevResult };
  }

  it.each(ALL_VERSIONS)(
    'recorder at cniVersion %s: ADD passes prevResult through unchanged; CHECK agrees; a changed result fails CHECK',
    async (v) => {
      const prev = resultIn(v, { v110: true });
      const cid = `rec-${v.replace(/\./g, '')}`;
      const add = await lab.islet(env('ADD', cid), config(v, prev));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json).toEqual(prev);
      if (!atLeast040(v)) return;

      const check = await lab.islet(env('CHECK', cid), config(v, prev));
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(check.stdout.trim()).toBe('');

      const moved = structuredClone(prev);
      (moved.ips as Array<{ address: string }>)[0]!.address = '10.236.0.99/24';
      const mismatch = await lab.islet(env('CHECK', cid), config(v, moved));
      expect(mismatch.code).not.toBe(0);
      expect(mismatch.json?.code, mismatch.stdout).toBe(101);

      const unknown = await lab.islet(env('CHECK', `${cid}-unknown`), config(v, prev));
      expect(unknown.json?.code, unknown.stdout).toBe(3);

      const del = await lab.islet(env('DEL', cid), {
        cniVersion: v,
        name: net,
        ...lab.recorder(),
        prevResult: prev,
      });
      expect(del.code, del.stdout + del.stderr).toBe(0);
    },
  );

  const pairs = ALL_VERSIONS.flatMap((from) =>
    ALL_VERSIONS.filter((to) => to !== from).map((to) => [from, to]),
  );
  it.each(pairs)(
    'prevResult written as %s, request at %s: the output is the same result in the request version',
    async (from, to) => {
      const cid = `conv-${from!.replace(/\./g, '')}-${to!.replace(/\./g, '')}`;
      const add = await lab.islet(env('ADD', cid), config(to!, resultIn(from!)));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json).toEqual(resultIn(to!));
    },
  );

  it('ADD of the recorder without prevResult fails with code 7; DEL without prevResult is fine', async () => {
    const add = await lab.islet(env('ADD', 'rec-noprev'), {
      cniVersion: '1.0.0',
      name: net,
      ...lab.recorder(),
    });
    expect(add.json?.code).toBe(7);
    const del = await lab.islet(env('DEL', 'rec-noprev'), {
      cniVersion: '1.0.0',
      name: net,
      ...lab.recorder(),
    });
    expect(del.code, del.stdout + del.stderr).toBe(0);
  });
});
