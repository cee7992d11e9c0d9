import { describe, expect, it } from 'vitest';
import {
  type CniLab,
  cnitoolContainerId,
  type Netns,
  newPod,
  type Pod,
  requireRoot,
  resultIps,
} from './lab.js';
import { attachmentOf, snapshotOf } from './store.js';
import { useLab } from './suite.js';

// GC (CNI 1.1.0) as a runtime with GC support calls it on the IPAM: cni.dev/valid-attachments
// (and the legacy cni.dev/attachments) name the sandboxes still alive; islet keeps held snapshots.
describe.skipIf(!requireRoot('cni/gc'))('islet GC keeps held snapshots', () => {
  let lab: CniLab;
  const net = 'gc';

  useLab('each', { tag: 'gc', secondOctet: 238 }, (made) => {
    lab = made;
    lab.conflist({ name: net });
  });

  async function addPod(pod: Pod): Promise<{ ns: Netns; ip: string }> {
    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    return { ns, ip: resultIps(add.json)[0]! };
  }

  function gc(valid: Netns[], key = 'cni.dev/valid-attachments', ipam: Record<string, unknown> = {}) {
    const stdin = JSON.parse(lab.ipamStdin(net, '1.1.0', ipam)) as Record<string, unknown>;
    stdin[key] = valid.map((ns) => ({ containerID: cnitoolContainerId(ns), ifname: 'eth0' }));
    return lab.islet({ CNI_COMMAND: 'GC', CNI_PATH: lab.cniPath }, stdin);
  }

  it('drops attachments missing from cni.dev/valid-attachments to held, keeps every snapshot, and the pods get their IPs back', async () => {
    const [a, b, c] = [newPod('gc-a'), newPod('gc-b'), newPod('gc-c')];
    const pa = await addPod(a);
    const pb = await addPod(b);
    const pc = await addPod(c);
    expect((await lab.cnitool('del', net, pb.ns, { pod: b })).code).toBe(0);
    await lab.deleteNetns(pb.ns);
    // c's sandbox vanished without a DEL (the runtime lost track of it)
    await lab.deleteNetns(pc.ns);

    // the legacy key listing everything alive changes nothing
    const legacy = await gc([pa.ns, pc.ns], 'cni.dev/attachments');
    expect(legacy.code, legacy.stdout + legacy.stderr).toBe(0);
    expect(attachmentOf(lab, net, cnitoolContainerId(pc.ns))?.state).toBe('active');

    const r = await gc([pa.ns]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('');
    expect(attachmentOf(lab, net, cnitoolContainerId(pa.ns))?.state).toBe('active');
    expect(attachmentOf(lab, net, cnitoolContainerId(pc.ns))?.state).toBe('held');
    expect(snapshotOf(lab, net, a)?.state).toBe('live');
    expect(snapshotOf(lab, net, b)?.state).toBe('held');
    expect(snapshotOf(lab, net, c)).toBeDefined();
    // c's address stays reserved in host-local for c's next sandbox
    expect(lab.reservations(net).get(pc.ip)?.containerId).toBe(cnitoolContainerId(pc.ns));
    expect(lab.reservations(net).has(pb.ip)).toBe(false);

    const b2 = await addPod(b);
    const c2 = await addPod(c);
    expect(b2.ip).toBe(pb.ip);
    expect(c2.ip).toBe(pc.ip);
    expect(lab.reservations(net).get(pc.ip)?.containerId).toBe(cnitoolContainerId(c2.ns));
    expect(lab.reservations(net).size).toBe(3);
    expect(lab.integrityCheck()).toBe('ok');
  });

  it('reaps held snapshots past snapshotTTL during GC and releases what they held', async () => {
    const ttl = { snapshotTTL: '1s' };
    lab.conflist({ name: net, isletIpam: ttl });
    const [a, b] = [newPod('ttl-a'), newPod('ttl-b')];
    const pa = await addPod(a);
    const pb = await addPod(b);
    expect((await lab.cnitool('del', net, pa.ns, { pod: a })).code).toBe(0);
    await lab.deleteNetns(pb.ns);
    const gone = await gc([], 'cni.dev/valid-attachments', ttl);
    expect(gone.code, gone.stdout + gone.stderr).toBe(0);
    expect(attachmentOf(lab, net, cnitoolContainerId(pb.ns))?.state).toBe('held');

    // The snapshot ages past its 1 s TTL: the time passing is what this test is about.
    await new Promise((r) => setTimeout(r, 1500));
    const reap = await gc([], 'cni.dev/valid-attachments', ttl);
    expect(reap.code, reap.stdout + reap.stderr).toBe(0);
    expect(snapshotOf(lab, net, a)).toBeUndefined();
    expect(snapshotOf(lab, net, b)).toBeUndefined();
    expect(attachmentOf(lab, net, cnitoolContainerId(pb.ns))).toBeUndefined();
    expect(lab.reservations(net).size).toBe(0);
  });
});
