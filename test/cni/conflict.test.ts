import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CniLab, cnitoolContainerId, newPod, requireRoot, resultIps } from './lab.js';
import { bare, snapshotOf, staleSnapshotsOf } from './store.js';
import { useLab } from './suite.js';

// Conflict: the address islet recorded for a pod was given to another live container.
describe.skipIf(!requireRoot('cni/conflict'))(
  'islet never duplicates an address another container holds',
  () => {
    let lab: CniLab;
    const net = 'conflict';

    useLab('each', { tag: 'cfl', secondOctet: 233 }, (made) => {
      lab = made;
      lab.conflist({ name: net });
    });

    it('a container outside islet took the recorded IP: the pod gets a fresh IP, the old snapshot is retired as stale and never replayed', async () => {
      const pod = newPod('front-0');
      const ns1 = await lab.netns();
      const first = await lab.cnitool('add', net, ns1, { pod });
      expect(first.code, first.stderr + first.stdout).toBe(0);
      const [ip] = resultIps(first.json);
      expect((await lab.cnitool('del', net, ns1, { pod })).code).toBe(0);
      await lab.deleteNetns(ns1);

      // the same network through plain bridge + host-local (no islet): a container asks for that IP
      const plainDir = join(lab.dir, 'plain.d');
      lab.conflist({ name: net, ipam: 'host-local', recorder: false, netDir: plainDir });
      const nsOther = await lab.netns();
      const other = await lab.cnitool('add', net, nsOther, {
        netDir: plainDir,
        pod: newPod('foreign'),
        args: { IP: ip! },
      });
      expect(other.code, other.stderr + other.stdout).toBe(0);
      expect(resultIps(other.json)).toEqual([ip]);

      const ns2 = await lab.netns();
      const again = await lab.cnitool('add', net, ns2, { pod });
      expect(again.code, again.stderr + again.stdout).toBe(0);
      const [fresh] = resultIps(again.json);
      expect(fresh).not.toBe(ip);
      expect(await lab.addressesIn(ns2)).toEqual([fresh]);
      expect(await lab.addressesIn(nsOther)).toEqual([ip]);
      // the other container keeps its reservation: islet did not release someone else's address
      const reservations = lab.reservations(net);
      expect(reservations.get(ip!)?.containerId).toBe(cnitoolContainerId(nsOther));
      expect(reservations.get(fresh!)?.containerId).toBe(cnitoolContainerId(ns2));
      expect(reservations.size).toBe(2);
      expect((await lab.ping(ns2, lab.gateway)).code).toBe(0);
      expect((await lab.ping(nsOther, lab.gateway)).code).toBe(0);

      // the recorded snapshot was retired as stale (kept in stale_snapshots with the reason); the
      // pod's snapshot now records the fresh address
      const [retired, ...more] = staleSnapshotsOf(lab, net, pod);
      expect(more).toEqual([]);
      expect(retired?.ips.map(bare)).toEqual([ip]);
      expect(retired?.reason).toContain(cnitoolContainerId(nsOther));
      const snap = snapshotOf(lab, net, pod);
      expect(snap?.state).toBe('live');
      expect(snap?.ips.map(bare)).toEqual([fresh]);
      expect(snap?.stale_reason).toContain(ip);

      // the stale address is never replayed: with the delegate down the pod's next sandbox gets
      // the fresh one back, and nobody's address is duplicated
      expect((await lab.cnitool('del', net, ns2, { pod })).code).toBe(0);
      await lab.mountReadOnly(lab.dataDir);
      const ns3 = await lab.netns();
      const offline = await lab.cnitool('add', net, ns3, { pod });
      expect(offline.code, offline.stdout + offline.stderr).toBe(0);
      expect(resultIps(offline.json)).toEqual([fresh]);
      expect((await lab.ping(ns3, lab.gateway)).code).toBe(0);
    });

    it('another islet pod holds the recorded IP: fresh IP for ours, the other keeps it', async () => {
      const pod = newPod('queue-0');
      const ns1 = await lab.netns();
      const first = await lab.cnitool('add', net, ns1, { pod });
      expect(first.code, first.stderr + first.stdout).toBe(0);
      const [ip] = resultIps(first.json);
      expect((await lab.cnitool('del', net, ns1, { pod })).code).toBe(0);
      await lab.deleteNetns(ns1);

      const thief = newPod('queue-1');
      const nsThief = await lab.netns();
      const stolen = await lab.cnitool('add', net, nsThief, { pod: thief, args: { IP: ip! } });
      expect(stolen.code, stolen.stderr + stolen.stdout).toBe(0);
      expect(resultIps(stolen.json)).toEqual([ip]);

      const ns2 = await lab.netns();
      const again = await lab.cnitool('add', net, ns2, { pod });
      expect(again.code, again.stderr + again.stdout).toBe(0);
      const [fresh] = resultIps(again.json);
      expect(fresh).not.toBe(ip);
      expect(lab.reservations(net).get(ip!)?.containerId).toBe(cnitoolContainerId(nsThief));
      expect(await lab.addressesIn(nsThief)).toEqual([ip]);
      expect(staleSnapshotsOf(lab, net, pod).map((r) => r.ips.map(bare))).toEqual([[ip]]);
      expect(snapshotOf(lab, net, pod)?.ips.map(bare)).toEqual([fresh]);
      expect(snapshotOf(lab, net, thief)?.state).toBe('live');
      expect(snapshotOf(lab, net, thief)?.ips.map(bare)).toEqual([ip]);
    });
  },
);
