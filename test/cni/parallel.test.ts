import { describe, expect, it } from 'vitest';
import {
  type CniCall,
  type CniLab,
  cnitoolContainerId,
  type Netns,
  newPod,
  requireRoot,
  resultIps,
} from './lab.js';
import { attachments, snapshots } from './store.js';
import { useLab } from './suite.js';

// Concurrency: 50 ADDs of different pods at once. 40 call the plugin binary directly as the
// bridge plugin would (IPAM wrapper), 10 go through cnitool's whole chain in their own netns; all
// share one database and one host-local data dir.
const DIRECT = 40;
const THROUGH_CNITOOL = 10;

describe.skipIf(!requireRoot('cni/parallel'))('islet under 50 parallel ADDs', () => {
  let lab: CniLab;
  const net = 'parallel';

  useLab('all', { tag: 'par', secondOctet: 234 }, (made) => {
    lab = made;
    lab.conflist({ name: net });
  });

  it('50 parallel ADDs give 50 distinct IPs; the database passes integrity_check; parallel DELs free them all', async () => {
    const sharedNs = await lab.netns();
    const chainNs: Netns[] = [];
    for (let i = 0; i < THROUGH_CNITOOL; i++) chainNs.push(await lab.netns());
    const stdin = lab.ipamStdin(net);

    const directPods = Array.from({ length: DIRECT }, (_, i) => newPod(`direct-${i}`));
    const chainPods = chainNs.map((_, i) => newPod(`chain-${i}`));
    const calls: Promise<CniCall>[] = [
      ...directPods.map((pod, i) =>
        lab.islet(lab.ipamEnv('ADD', `par-direct-${i}`, pod, sharedNs.path), stdin, 110_000),
      ),
      ...chainNs.map((ns, i) => lab.cnitool('add', net, ns, { pod: chainPods[i]!, timeoutMs: 110_000 })),
    ];
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      expect(r.code, `call ${i}: ${r.stdout} ${r.stderr}`).toBe(0);
    });
    const ips = results.map((r) => resultIps(r.json)[0]);
    expect(ips.every((ip) => ip?.startsWith(`${lab.prefix}.`))).toBe(true);
    expect(new Set(ips).size).toBe(50);

    // host-local agrees: 50 reservations, each for the container that got it
    const reservations = lab.reservations(net);
    expect(reservations.size).toBe(50);
    directPods.forEach((_, i) => {
      expect(reservations.get(ips[i]!)?.containerId).toBe(`par-direct-${i}`);
    });
    chainNs.forEach((ns, i) => {
      expect(reservations.get(ips[DIRECT + i]!)?.containerId).toBe(cnitoolContainerId(ns));
    });
    for (const [i, ns] of chainNs.entries()) expect(await lab.addressesIn(ns)).toEqual([ips[DIRECT + i]]);

    expect(lab.integrityCheck()).toBe('ok');
    expect(snapshots(lab, net).filter((s) => s.state === 'live')).toHaveLength(50);
    expect(attachments(lab, net).filter((a) => a.state === 'active')).toHaveLength(50);

    const dels = await Promise.all([
      ...directPods.map((pod, i) =>
        lab.islet(lab.ipamEnv('DEL', `par-direct-${i}`, pod, sharedNs.path), stdin, 110_000),
      ),
      ...chainNs.map((ns, i) => lab.cnitool('del', net, ns, { pod: chainPods[i]!, timeoutMs: 110_000 })),
    ]);
    dels.forEach((r, i) => {
      expect(r.code, `del ${i}: ${r.stdout} ${r.stderr}`).toBe(0);
    });
    expect(lab.reservations(net).size).toBe(0);
    expect(snapshots(lab, net).filter((s) => s.state === 'held')).toHaveLength(50);
    expect(lab.integrityCheck()).toBe('ok');
  });
});
