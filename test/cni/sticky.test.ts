import { describe, expect, it } from 'vitest';
import { type CniLab, cnitoolContainerId, newPod, requireRoot, resultIps } from './lab.js';
import { attachmentOf, bare, snapshotOf } from './store.js';
import { useLab } from './suite.js';

// Connectivity and sticky IPs across DEL/ADD and reboots: a real chain (bridge + islet IPAM over
// host-local + tuning + islet recorder) under cnitool in real network namespaces.
describe.skipIf(!requireRoot('cni/sticky'))('islet under cnitool: connectivity and sticky IPs', () => {
  let lab: CniLab;
  const net = 'sticky';

  useLab('each', { tag: 'stk', secondOctet: 231 }, (made) => {
    lab = made;
    lab.conflist({ name: net });
  });

  it('ADD gives an address that reaches the bridge gateway; CHECK passes; DEL cleans up', async () => {
    const pod = newPod('web-0');
    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(add.json?.cniVersion).toBe('1.0.0');
    const [ip] = resultIps(add.json);
    expect(ip?.startsWith(`${lab.prefix}.`)).toBe(true);
    expect(await lab.addressesIn(ns)).toEqual([ip]);
    // tuning ran inside the pod's namespace, and the recorder passed its result through
    const somaxconn = await lab.netnsRead(ns, '/proc/sys/net/core/somaxconn');
    expect(somaxconn.trim()).toBe('512');

    const ping = await lab.ping(ns, lab.gateway);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/1 received/);

    const check = await lab.cnitool('check', net, ns, { pod });
    expect(check.code, check.stderr + check.stdout).toBe(0);

    expect([...lab.reservations(net).keys()]).toEqual([ip]);
    const del = await lab.cnitool('del', net, ns, { pod });
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(await lab.addressesIn(ns)).toEqual([]);
    expect(lab.reservations(net).size).toBe(0);
    // DEL is idempotent, and a DEL of a sandbox whose netns is gone still succeeds
    expect((await lab.cnitool('del', net, ns, { pod })).code).toBe(0);
    await lab.deleteNetns(ns);
    const gone = await lab.cnitool('del', net, ns, { pod });
    expect(gone.code, gone.stderr + gone.stdout).toBe(0);
    // ... and so does a DEL for a container islet never saw
    const ns2 = await lab.netns();
    expect((await lab.cnitool('del', net, ns2, { pod: newPod('never-added') })).code).toBe(0);
    expect(snapshotOf(lab, net, pod)?.state).toBe('held');
  });

  it('the same pod in a new sandbox after DEL gets the same IP (host-local alone would not)', async () => {
    const pod = newPod('db-0');
    const ns1 = await lab.netns();
    const first = await lab.cnitool('add', net, ns1, { pod });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const [ip] = resultIps(first.json);
    expect(snapshotOf(lab, net, pod)?.state).toBe('live');
    expect((await lab.cnitool('del', net, ns1, { pod })).code).toBe(0);
    await lab.deleteNetns(ns1);
    // DEL released the address in host-local but kept the snapshot for the pod's next sandbox
    expect(lab.reservations(net).has(ip!)).toBe(false);
    const held = snapshotOf(lab, net, pod);
    expect(held?.state).toBe('held');
    expect(held?.ips.map(bare)).toEqual([ip]);

    // another pod comes and goes in between: host-local's next-free pointer moves past our IP
    const other = newPod('other-0');
    const nsOther = await lab.netns();
    const otherAdd = await lab.cnitool('add', net, nsOther, { pod: other });
    expect(otherAdd.code, otherAdd.stderr + otherAdd.stdout).toBe(0);
    expect(resultIps(otherAdd.json)[0]).not.toBe(ip);

    const ns2 = await lab.netns();
    const again = await lab.cnitool('add', net, ns2, { pod });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(resultIps(again.json)).toEqual([ip]);
    expect(await lab.addressesIn(ns2)).toEqual([ip]);
    expect((await lab.ping(ns2, lab.gateway)).code).toBe(0);
    // host-local holds the IP for the new sandbox, not the old one
    expect(lab.reservations(net).get(ip!)?.containerId).toBe(cnitoolContainerId(ns2));
    expect(snapshotOf(lab, net, pod)?.state).toBe('live');
    expect(attachmentOf(lab, net, cnitoolContainerId(ns2))?.state).toBe('active');
    expect([...lab.reservations(net).keys()].sort()).toEqual([ip, resultIps(otherAdd.json)[0]].sort());

    // a different pod with the same name but another UID is another pod: it does not inherit the IP
    expect((await lab.cnitool('del', net, ns2, { pod })).code).toBe(0);
    const impostor = { ...newPod('db-0'), namespace: pod.namespace };
    const ns3 = await lab.netns();
    const imp = await lab.cnitool('add', net, ns3, { pod: impostor });
    expect(imp.code, imp.stderr + imp.stdout).toBe(0);
    expect(resultIps(imp.json)[0]).not.toBe(ip);
  });

  it('a runtime that passes only the pod name (podman-style, any CNI_ARGS order) still gets its IP back', async () => {
    const rawArgs = 'K8S_POD_NAME=podman-web;IgnoreUnknown=1';
    const ns1 = await lab.netns();
    const first = await lab.cnitool('add', net, ns1, { rawArgs });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const [ip] = resultIps(first.json);
    expect((await lab.cnitool('del', net, ns1, { rawArgs })).code).toBe(0);
    await lab.deleteNetns(ns1);

    const nsOther = await lab.netns();
    expect(
      (await lab.cnitool('add', net, nsOther, { rawArgs: 'IgnoreUnknown=1;K8S_POD_NAME=podman-db' })).code,
    ).toBe(0);

    const ns2 = await lab.netns();
    const again = await lab.cnitool('add', net, ns2, { rawArgs });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(resultIps(again.json)).toEqual([ip]);
    expect(snapshotOf(lab, net, { namespace: '', name: 'podman-web', uid: '' })?.state).toBe('live');
  });

  it('the same pod after a simulated reboot (old sandbox never DELed, its host-local file still held) gets the same IP', async () => {
    const pod = newPod('cache-0', 'edge');
    const bootA = '11111111-2222-3333-4444-555555555555';
    const bootB = '66666666-7777-8888-9999-000000000000';
    const ns1 = await lab.netns();
    const first = await lab.cnitool('add', net, ns1, { pod, env: { ISLET_BOOT_ID: bootA } });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const [ip] = resultIps(first.json);
    const oldHolder = lab.reservations(net).get(ip!)?.containerId;
    expect(oldHolder).toBe(cnitoolContainerId(ns1));
    expect(snapshotOf(lab, net, pod)?.boot_id).toBe(bootA);

    // power loss: the netns and veth vanish, nobody calls DEL, host-local's file stays
    await lab.deleteNetns(ns1);
    expect(lab.reservations(net).get(ip!)?.containerId).toBe(oldHolder);

    const ns2 = await lab.netns();
    const again = await lab.cnitool('add', net, ns2, { pod, env: { ISLET_BOOT_ID: bootB } });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(resultIps(again.json)).toEqual([ip]);
    expect((await lab.ping(ns2, lab.gateway)).code).toBe(0);
    // the stale reservation was released and the IP now belongs to the new sandbox alone
    const holders = [...lab.reservations(net).entries()];
    expect(holders).toHaveLength(1);
    expect(holders[0]?.[0]).toBe(ip);
    expect(holders[0]?.[1].containerId).toBe(cnitoolContainerId(ns2));
    const snap = snapshotOf(lab, net, pod);
    expect(snap?.state).toBe('live');
    expect(snap?.boot_id).toBe(bootB);
    expect(snap?.container_id).toBe(cnitoolContainerId(ns2));
  });
});
