import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, type Pod, requireRoot, resultIps } from './lab.js';
import { exited, killPid, start, waitFor } from './process.js';
import { attachmentOf, bare, snapshotOf } from './store.js';
import { useLab } from './suite.js';

// Crash safety: kill -9 of the plugin while the delegate runs. The delegate wrapper lets the
// real host-local reserve an address and then blocks, so the kill lands in the worst window:
// host-local holds a reservation islet never committed.
describe.skipIf(!requireRoot('cni/crash'))('islet survives kill -9 in the middle of ADD', () => {
  let lab: CniLab;
  const net = 'crash';

  useLab('each', { tag: 'crs', secondOctet: 237, wrapDelegate: true }, (made) => {
    lab = made;
    lab.conflist({ name: net });
  });

  /** Starts an IPAM ADD, waits until host-local reserved an address, then kills the plugin. */
  async function killMidAdd(containerId: string, pod: Pod): Promise<string> {
    lab.flag('hold-add', true);
    rmSync(lab.flagFile('held'), { force: true });
    const child = start(join(lab.binDir, 'islet'), [], {
      env: lab.baseEnv(lab.ipamEnv('ADD', containerId, pod, '/var/run/netns/islet-crash-none')),
      input: lab.ipamStdin(net),
    });
    try {
      await waitFor('the delegate to reserve an address', () => existsSync(lab.flagFile('held')));
      const held = JSON.parse(readFileSync(lab.flagFile('held-result'), 'utf8')) as Record<string, unknown>;
      const [ip] = resultIps(held);
      // the crash window: host-local holds it, islet has only a pending row
      expect(lab.reservations(net).get(ip!)?.containerId).toBe(containerId);
      expect(attachmentOf(lab, net, containerId)?.state).toBe('pending');
      child.kill('SIGKILL');
      await exited(child);
      expect(child.signalCode).toBe('SIGKILL');
      return ip!;
    } finally {
      child.kill('SIGKILL');
      killPid(Number(readFileSync(lab.flagFile('held'), 'utf8').trim()));
      lab.flag('hold-add', false);
    }
  }

  it('the next ADD repairs: the leaked reservation is released, committed snapshots survive, the pod gets its IP back', async () => {
    const a = newPod('stateful-0');
    const keeper = newPod('keeper-0');
    const nsA = await lab.netns();
    const addA = await lab.cnitool('add', net, nsA, { pod: a });
    expect(addA.code, addA.stderr + addA.stdout).toBe(0);
    const [ipA] = resultIps(addA.json);
    expect((await lab.cnitool('del', net, nsA, { pod: a })).code).toBe(0);
    await lab.deleteNetns(nsA);
    const nsK = await lab.netns();
    const addK = await lab.cnitool('add', net, nsK, { pod: keeper });
    expect(addK.code, addK.stderr + addK.stdout).toBe(0);
    const [ipK] = resultIps(addK.json);

    // A's next sandbox asks for its recorded IP; the plugin dies after host-local granted it
    const leaked = await killMidAdd('crash-a2', a);
    expect(leaked).toBe(ipA);

    const nsB = await lab.netns();
    const addB = await lab.cnitool('add', net, nsB, { pod: newPod('bystander-0') });
    expect(addB.code, addB.stderr + addB.stdout).toBe(0);
    const holders = [...lab.reservations(net).values()].map((r) => r.containerId);
    expect(holders).not.toContain('crash-a2');
    expect(attachmentOf(lab, net, 'crash-a2')).toBeUndefined();
    // committed snapshots are intact
    expect(snapshotOf(lab, net, a)?.ips.map(bare)).toEqual([ipA]);
    expect(snapshotOf(lab, net, keeper)?.state).toBe('live');
    expect(snapshotOf(lab, net, keeper)?.ips.map(bare)).toEqual([ipK]);
    expect(lab.integrityCheck()).toBe('ok');

    const nsA3 = await lab.netns();
    const back = await lab.cnitool('add', net, nsA3, { pod: a });
    expect(back.code, back.stderr + back.stdout).toBe(0);
    expect(resultIps(back.json)).toEqual([ipA]);
    expect((await lab.ping(nsA3, lab.gateway)).code).toBe(0);
  });

  it('the runtime DEL of the killed sandbox repairs too; a new pod killed mid-ADD leaves nothing behind', async () => {
    const c = newPod('fresh-0');
    const leaked = await killMidAdd('crash-c1', c);
    expect(lab.reservations(net).get(leaked)?.containerId).toBe('crash-c1');

    // the runtime saw the ADD fail and cleans the sandbox up
    const del = await lab.islet(lab.ipamEnv('DEL', 'crash-c1', c, ''), lab.ipamStdin(net));
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(lab.reservations(net).size).toBe(0);
    expect(attachmentOf(lab, net, 'crash-c1')).toBeUndefined();
    expect(lab.integrityCheck()).toBe('ok');

    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod: c });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(lab.reservations(net).size).toBe(1);
    expect(snapshotOf(lab, net, c)?.state).toBe('live');
  });
});
