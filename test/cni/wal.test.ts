import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CniLab, newPod, requireRoot, resultIps } from './lab.js';
import { snapshotOf } from './store.js';
import { useLab } from './suite.js';

// Each CNI call is a process that exits without closing its SQLite connection (a close would
// checkpoint the WAL into the database and delete it: 3 extra fsyncs per call). What it committed
// stays in the WAL, where the next call and any reader find it; commits checkpoint the WAL once
// it reaches 200 pages, so it stays small.
describe.skipIf(!requireRoot('cni/wal'))('islet leaves its commits in the WAL at exit', () => {
  let lab: CniLab;
  const net = 'wal';
  const wal = () => `${lab.dbPath}-wal`;

  useLab('each', { tag: 'wal', secondOctet: 236, bridge: false }, (made) => (lab = made));

  it('a call keeps the WAL, the next call and a reader see its commits, the WAL stays bounded', async () => {
    const pod = newPod('walled-0');
    const stdin = lab.ipamStdin(net);
    const ip = await lab.ipamAddress('wal-c1', pod, stdin);
    // Not checkpointed and deleted at exit: the commit is in the WAL.
    expect(existsSync(wal())).toBe(true);
    expect(statSync(wal()).size).toBeGreaterThan(0);

    const del = await lab.ipam('DEL', 'wal-c1', pod, stdin);
    expect(del.code, del.stderr + del.stdout).toBe(0);
    // The next sandbox of the pod gets the address the first call recorded in the WAL.
    const again = await lab.ipam('ADD', 'wal-c2', pod, stdin);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(resultIps(again.json)).toEqual([ip]);

    // Many calls later the WAL has been checkpointed along the way, not grown without bound.
    for (let i = 0; i < 40; i++) {
      const p = newPod(`walled-${i + 1}`);
      const a = await lab.ipam('ADD', `wal-m${i}`, p, stdin);
      expect(a.code, a.stderr + a.stdout).toBe(0);
      const d = await lab.ipam('DEL', `wal-m${i}`, p, stdin);
      expect(d.code, d.stderr + d.stdout).toBe(0);
    }
    // 200 pages of 4 KiB plus one transaction's frames (24-byte frame headers).
    expect(statSync(wal()).size).toBeLessThan(230 * (4096 + 24));
    // A reader (read-only, as doctor and the tests open it) sees the latest commits.
    expect(snapshotOf(lab, net, pod)?.ips.map((c) => c.split('/')[0])).toEqual([ip]);
    expect(snapshotOf(lab, net, newPod('walled-40'))?.state).toBe('held');
  });
});
