import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CniLab, cnitoolContainerId, type Netns, newPod, type Pod, requireRoot, resultIps } from './lab.js';
import { waitFor } from './process.js';
import { attachmentOf, bare, snapshotOf } from './store.js';

// Offline replay and adoption when the delegate is down, plus the other transient failure classes, a
// configuration error that must not replay, and STATUS.
describe.skipIf(!requireRoot('cni/offline'))('islet replays snapshots while the delegate is down', () => {
  let lab: CniLab | undefined;
  afterEach(async () => {
    await lab?.cleanup();
    lab = undefined;
  });

  /** ADD + DEL of each pod online, so each has a held snapshot and no reservation. */
  async function snapshotPods(l: CniLab, net: string, pods: Pod[]): Promise<Map<Pod, string>> {
    const ips = new Map<Pod, string>();
    for (const pod of pods) {
      const ns = await l.netns();
      const add = await l.cnitool('add', net, ns, { pod });
      expect(add.code, add.stderr + add.stdout).toBe(0);
      ips.set(pod, resultIps(add.json)[0]!);
      expect((await l.cnitool('del', net, ns, { pod })).code).toBe(0);
      await l.deleteNetns(ns);
    }
    return ips;
  }

  it('data dir read-only: snapshotted pods come back with their IPs, others get code 11; on recovery replayed IPs are adopted before 20 new pods are served', async () => {
    // 22 addresses: two replayed pods + 20 new ones fill the range exactly, and host-local's
    // next-free pointer wraps onto the replayed addresses unless islet adopted them first.
    lab = await CniLab.create({ tag: 'off', secondOctet: 232, rangeStart: 10, rangeEnd: 31 });
    const net = 'offline';
    lab.conflist({ name: net });
    const [p1, p2, p3] = [newPod('api-0'), newPod('api-1'), newPod('api-2')];
    const ips = await snapshotPods(lab, net, [p1!, p2!, p3!]);
    expect([...ips.values()]).toEqual([`${lab.prefix}.10`, `${lab.prefix}.11`, `${lab.prefix}.12`]);

    await lab.mountReadOnly(lab.dataDir);
    const replayedNs = new Map<Pod, Netns>();
    for (const pod of [p1!, p2!]) {
      const ns = await lab.netns();
      const add = await lab.cnitool('add', net, ns, { pod });
      expect(add.code, add.stderr + add.stdout).toBe(0);
      expect(resultIps(add.json)).toEqual([ips.get(pod)]);
      expect(await lab.addressesIn(ns)).toEqual([ips.get(pod)]);
      expect((await lab.ping(ns, lab.gateway)).code).toBe(0);
      expect(attachmentOf(lab, net, cnitoolContainerId(ns))?.state).toBe('replayed');
      replayedNs.set(pod, ns);
    }

    // a pod islet never saw cannot be served: try again later (11), through the whole chain too
    const stranger = newPod('new-0');
    const nsStranger = await lab.netns();
    const viaChain = await lab.cnitool('add', net, nsStranger, { pod: stranger });
    expect(viaChain.code).not.toBe(0);
    const direct = await lab.islet(
      lab.ipamEnv('ADD', 'c-stranger', stranger, nsStranger.path),
      lab.ipamStdin(net),
    );
    expect(direct.code).not.toBe(0);
    expect(direct.json?.code, direct.stdout + direct.stderr).toBe(11);
    expect(attachmentOf(lab, net, 'c-stranger')).toBeUndefined();

    await lab.unmount(lab.dataDir);
    const newIps: string[] = [];
    for (let i = 0; i < 20; i++) {
      const ns = await lab.netns();
      const add = await lab.cnitool('add', net, ns, { pod: newPod(`fresh-${i}`) });
      expect(add.code, `pod ${i}: ${add.stderr}${add.stdout}`).toBe(0);
      newIps.push(resultIps(add.json)[0]!);
    }
    expect(new Set(newIps).size).toBe(20);
    expect(newIps).not.toContain(ips.get(p1!));
    expect(newIps).not.toContain(ips.get(p2!));
    // the held (not replayed) snapshot's address was free to take, and host-local handed it out
    expect(newIps).toContain(ips.get(p3!));

    const reservations = lab.reservations(net);
    expect(reservations.size).toBe(22);
    for (const pod of [p1!, p2!]) {
      const ns = replayedNs.get(pod)!;
      expect(reservations.get(ips.get(pod)!)?.containerId).toBe(cnitoolContainerId(ns));
      expect(attachmentOf(lab, net, cnitoolContainerId(ns))?.state).toBe('active');
      expect(snapshotOf(lab, net, pod)?.ips.map(bare)).toEqual([ips.get(pod)]);
      expect((await lab.ping(ns, lab.gateway)).code).toBe(0);
    }
    // p3's recorded address now belongs to someone else: its snapshot must not be replayed again
    const nsP3 = await lab.netns();
    const p3Back = await lab.cnitool('add', net, nsP3, { pod: p3! });
    expect(p3Back.code).not.toBe(0); // the range is full and p3's IP is taken: no duplicate, no replay
    expect(lab.reservations(net).size).toBe(22);
    expect(await lab.addressesIn(nsP3)).toEqual([]);
    expect(lab.integrityCheck()).toBe('ok');
  });

  it('a delegate that hangs is killed at delegateTimeout; the snapshot is replayed, others get 11', async () => {
    lab = await CniLab.create({ tag: 'hng', secondOctet: 232, wrapDelegate: true });
    const net = 'hang';
    lab.conflist({ name: net, isletIpam: { delegateTimeout: '3s' } });
    const pod = newPod('slow-0');
    const ip = (await snapshotPods(lab, net, [pod])).get(pod)!;

    lab.flag('hang', true);
    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(resultIps(add.json)).toEqual([ip]);
    expect((await lab.ping(ns, lab.gateway)).code).toBe(0);
    // the hung delegate process was killed, not left behind
    const pids = readFileSync(lab.flagFile('pids'), 'utf8').trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids)
      await waitFor(`delegate ${pid} to be killed`, () => !existsSync(`/proc/${pid}`), 10_000);

    const other = await lab.islet(
      lab.ipamEnv('ADD', 'c-other', newPod('other-0'), ns.path),
      lab.ipamStdin(net, '1.0.0', { delegateTimeout: '3s' }),
    );
    expect(other.json?.code, other.stdout + other.stderr).toBe(11);

    // back online: the next call adopts the replayed address into host-local
    lab.flag('hang', false);
    lab.killDelegates();
    const ns2 = await lab.netns();
    const next = await lab.cnitool('add', net, ns2, { pod: newPod('after-0') });
    expect(next.code, next.stderr + next.stdout).toBe(0);
    expect(resultIps(next.json)[0]).not.toBe(ip);
    expect(lab.reservations(net).get(ip)?.containerId).toBe(cnitoolContainerId(ns));
  });

  it('a delegate answering code 11 ("connection refused") is transient: replay; DEL while offline still succeeds', async () => {
    lab = await CniLab.create({ tag: 'c11', secondOctet: 232, wrapDelegate: true });
    const net = 'c11';
    lab.conflist({ name: net });
    const pod = newPod('cloud-0');
    const ip = (await snapshotPods(lab, net, [pod])).get(pod)!;

    lab.flag('fail11', true);
    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(resultIps(add.json)).toEqual([ip]);
    expect(attachmentOf(lab, net, cnitoolContainerId(ns))?.state).toBe('replayed');
    const fresh = await lab.islet(
      lab.ipamEnv('ADD', 'c-fresh', newPod('fresh-0'), ns.path),
      lab.ipamStdin(net),
    );
    expect(fresh.json?.code).toBe(11);
    // same namespace/name, another UID (a recreated pod): the snapshot is not its to replay
    const recreated = { ...pod, uid: newPod('x').uid };
    const imp = await lab.islet(lab.ipamEnv('ADD', 'c-recreated', recreated, ns.path), lab.ipamStdin(net));
    expect(imp.json?.code, imp.stdout + imp.stderr).toBe(11);

    // DEL while the delegate is down exits 0 and keeps the snapshot for the next sandbox
    const del = await lab.cnitool('del', net, ns, { pod });
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(snapshotOf(lab, net, pod)?.state).toBe('held');
    await lab.deleteNetns(ns);
    const ns2 = await lab.netns();
    const again = await lab.cnitool('add', net, ns2, { pod });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(resultIps(again.json)).toEqual([ip]);

    lab.flag('fail11', false);
    const ns3 = await lab.netns();
    const other = await lab.cnitool('add', net, ns3, { pod: newPod('other-0') });
    expect(other.code, other.stderr + other.stdout).toBe(0);
    expect(resultIps(other.json)[0]).not.toBe(ip);
    expect(lab.reservations(net).get(ip)?.containerId).toBe(cnitoolContainerId(ns2));
  });

  it('a configuration error never replays: a delegate missing from CNI_PATH is a clear code-7 error', async () => {
    lab = await CniLab.create({ tag: 'cfg', secondOctet: 232 });
    const net = 'cfg';
    lab.conflist({ name: net });
    const pod = newPod('conf-0');
    await snapshotPods(lab, net, [pod]);

    const broken = { ...lab.hostLocal(), type: 'host-local-absent' };
    const ns = await lab.netns();
    const r = await lab.islet(
      lab.ipamEnv('ADD', 'c-conf', pod, ns.path),
      lab.ipamStdin(net, '1.0.0', { delegate: broken }),
    );
    expect(r.code).not.toBe(0);
    expect(r.json?.code, r.stdout + r.stderr).toBe(7);
    expect(String(r.json?.msg)).toContain('host-local-absent');
    expect(attachmentOf(lab, net, 'c-conf')).toBeUndefined();
  });

  it('a held snapshot older than snapshotTTL is not replayed', async () => {
    lab = await CniLab.create({ tag: 'ttl', secondOctet: 232, wrapDelegate: true });
    const net = 'ttl';
    const ttl = { snapshotTTL: '1s' };
    lab.conflist({ name: net, isletIpam: ttl });
    const pod = newPod('old-0');
    await snapshotPods(lab, net, [pod]);
    // The snapshot ages past its 1 s TTL: the time passing is what this test is about.
    await new Promise((r) => setTimeout(r, 1500));
    lab.flag('fail11', true);
    const r = await lab.islet(
      lab.ipamEnv('ADD', 'c-old', pod, '/var/run/netns/islet-ttl-none'),
      lab.ipamStdin(net, '1.0.0', ttl),
    );
    expect(r.json?.code, r.stdout + r.stderr).toBe(11);
    expect(attachmentOf(lab, net, 'c-old')).toBeUndefined();
  });

  it("a snapshot outside the delegate's current ranges is never replayed, nor requested", async () => {
    lab = await CniLab.create({ tag: 'rng', secondOctet: 232 });
    const net = 'ranges';
    lab.conflist({ name: net });
    const pod = newPod('moved-0');
    const ip = (await snapshotPods(lab, net, [pod])).get(pod)!;
    expect(ip).toBe(`${lab.prefix}.2`);

    // the operator narrows the range: the recorded address is no longer inside it
    const narrowed = {
      ...lab.hostLocal(),
      ranges: [
        [
          {
            subnet: lab.subnet,
            rangeStart: `${lab.prefix}.100`,
            rangeEnd: `${lab.prefix}.120`,
            gateway: lab.gateway,
          },
        ],
      ],
    };
    lab.conflist({ name: net, isletIpam: { delegate: narrowed } });
    await lab.mountReadOnly(lab.dataDir);
    const nsDown = await lab.netns();
    const down = await lab.islet(
      lab.ipamEnv('ADD', 'c-moved-down', pod, nsDown.path),
      lab.ipamStdin(net, '1.0.0', { delegate: narrowed }),
    );
    expect(down.json?.code, down.stdout + down.stderr).toBe(11);
    await lab.unmount(lab.dataDir);

    const ns = await lab.netns();
    const add = await lab.cnitool('add', net, ns, { pod });
    expect(add.code, add.stderr + add.stdout).toBe(0);
    expect(resultIps(add.json)).toEqual([`${lab.prefix}.100`]);
  });

  it("an unrecognised delegate error is replayed only while the proxy's fresh link-state file says offline", async () => {
    lab = await CniLab.create({ tag: 'lnk', secondOctet: 232, wrapDelegate: true });
    const net = 'link';
    lab.conflist({ name: net });
    const pod = newPod('link-0');
    const ip = (await snapshotPods(lab, net, [pod])).get(pod)!;
    const linkState = (state: string, checkedAt: Date) =>
      writeFileSync(
        lab!.linkStateFile,
        JSON.stringify({
          state,
          since: checkedAt.toISOString(),
          checkedAt: checkedAt.toISOString(),
          upstream: 'https://127.0.0.1:6443',
        }),
      );
    const addOnce = async (cid: string) =>
      lab!.islet(lab!.ipamEnv('ADD', cid, pod, '/var/run/netns/islet-link-none'), lab!.ipamStdin(net));

    lab.flag('fail-opaque', true);
    // no link-state file: "unknown", the error is passed through
    const unknown = await addOnce('link-a');
    expect(unknown.code).not.toBe(0);
    expect(unknown.json?.code, unknown.stdout).toBe(999);
    // a stale "offline" (the proxy stopped writing) is "unknown" too
    linkState('offline', new Date(Date.now() - 3_600_000));
    const stale = await addOnce('link-b');
    expect(stale.json?.code, stale.stdout).toBe(999);
    // the proxy says online: a real fault, passed through
    linkState('online', new Date());
    expect((await addOnce('link-c')).json?.code).toBe(999);
    // the proxy says offline right now: replay
    linkState('offline', new Date());
    const replayed = await addOnce('link-d');
    expect(replayed.code, replayed.stdout + replayed.stderr).toBe(0);
    expect(resultIps(replayed.json)).toEqual([ip]);
    expect(attachmentOf(lab, net, 'link-d')?.state).toBe('replayed');
  });

  it('STATUS succeeds while the delegate is down when snapshots can be replayed, and reports 50 when nothing can', async () => {
    lab = await CniLab.create({ tag: 'sts', secondOctet: 232, wrapDelegate: true });
    const net = 'status';
    lab.conflist({ name: net });
    const statusEnv = { CNI_COMMAND: 'STATUS', CNI_PATH: lab.cniPath };
    const stdin = lab.ipamStdin(net, '1.1.0');
    const online = await lab.islet(statusEnv, stdin);
    expect(online.code, online.stdout + online.stderr).toBe(0);
    expect(online.stdout.trim()).toBe('');

    lab.flag('fail11', true);
    const empty = await lab.islet(statusEnv, stdin);
    expect(empty.code).not.toBe(0);
    expect(empty.json?.code, empty.stdout + empty.stderr).toBe(50);

    lab.flag('fail11', false);
    const pod = newPod('st-0');
    await snapshotPods(lab, net, [pod]);
    lab.flag('fail11', true);
    const replayable = await lab.islet(statusEnv, stdin);
    expect(replayable.code, replayable.stdout + replayable.stderr).toBe(0);

    // the proxy's link-state file saying "offline" does not change that answer
    const now = new Date().toISOString();
    writeFileSync(
      lab.linkStateFile,
      JSON.stringify({ state: 'offline', since: now, checkedAt: now, upstream: 'https://127.0.0.1:6443' }),
    );
    expect((await lab.islet(statusEnv, stdin)).code).toBe(0);
  });
});
