/**
 * The store and the wrapper's bookkeeping, in-process against the real host-local (Debian's
 * containernetworking-plugins) in a temporary data dir: no root, no netns.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../cni/errors.js';
import { dispatch } from '../cni/skel.js';
import { isletVerbs } from './main.js';
import { type AttachmentState, SCHEMA_VERSION, Store } from './store.js';

const HOST_LOCAL = '/usr/lib/cni/host-local';

let dir: string;
let bin: string;
let dataDir: string;
let dbPath: string;
let flag: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'islet-store-'));
  bin = join(dir, 'bin');
  dataDir = join(dir, 'data');
  dbPath = join(dir, 'db', 'ipam.db');
  flag = join(dir, 'down');
  for (const d of [bin, dataDir, join(dir, 'db')]) mkdirSync(d, { recursive: true });
  symlinkSync(HOST_LOCAL, join(bin, 'host-local'));
  // A delegate that is "offline" (code 11) while the flag file exists, host-local otherwise.
  writeFileSync(
    join(bin, 'flaky'),
    `#!/bin/sh\nif [ -e ${flag} ]; then cat >/dev/null; echo '{"code":11,"msg":"dial tcp 10.1.1.1:443: connect: connection refused"}'; exit 1; fi\nexec ${HOST_LOCAL}\n`,
  );
  chmodSync(join(bin, 'flaky'), 0o755);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function conf(delegateType = 'host-local', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'storenet',
    type: 'bridge',
    ipam: {
      type: 'islet',
      database: dbPath,
      logLevel: 'error',
      delegate: { type: delegateType, dataDir, ranges: [[{ subnet: '10.66.0.0/28' }]] },
      ...extra,
    },
  };
}

interface Answer {
  code: number;
  out: Record<string, unknown> | undefined;
}

async function cni(
  command: string,
  containerId: string,
  pod: string | undefined,
  c: Record<string, unknown> = conf(),
  env: Record<string, string> = {},
): Promise<Answer> {
  let stdout = '';
  const code = await dispatch(isletVerbs, {
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/nonexistent/${containerId}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: bin,
      CNI_ARGS: pod
        ? `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=${pod};K8S_POD_UID=uid-${pod}`
        : 'IgnoreUnknown=1',
      ISLET_BOOT_ID: 'boot-1',
      ...env,
    },
    stdinIsPiped: true,
    readStdin: () => Buffer.from(JSON.stringify(c)),
    writeStdout: (t) => {
      stdout += t;
    },
  });
  return { code, out: stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>) };
}

const ipOf = (a: Answer): string =>
  ((a.out?.ips as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '';

function db(): BetterSqlite3.Database {
  return new BetterSqlite3(dbPath);
}

function reservations(): string[] {
  const d = join(dataDir, 'storenet');
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => /^\d/.test(f))
        .sort()
    : [];
}

describe('store', () => {
  it('creates the schema once, mode 0600, integrity ok', () => {
    Store.open(dbPath, 1000).close();
    Store.open(dbPath, 1000).close();
    expect(statSync(dbPath).mode & 0o777).toBe(0o600);
    const d = db();
    expect(d.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(d.pragma('journal_mode', { simple: true })).toBe('wal');
    d.close();
  });

  it('reports a corrupt database as code 5 and leaves it alone', () => {
    writeFileSync(
      dbPath,
      'this is not sqlite, just bytes that happen to be long enough to look like a header'.repeat(20),
    );
    let caught: unknown;
    try {
      Store.open(dbPath, 1000);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CniError);
    expect((caught as CniError).code).toBe(5);
    expect((caught as CniError).message).toContain(dbPath);
  });

  it('finds the attachments left unfinished and the reservations past their time, and no others', () => {
    const store = Store.open(dbPath, 1000);
    const row = (container_id: string, state: AttachmentState, boot_id: string, updated_at: number) =>
      store.putAttachment({
        network: 'n',
        container_id,
        ifname: 'eth0',
        pod_namespace: 'ns',
        pod_name: container_id,
        pod_uid: '',
        netns: '',
        cni_args: '',
        state,
        ips: '[]',
        result: null,
        delegate_conf: '{}',
        boot_id,
        pid: 1,
        proc_start: '',
        created_at: updated_at,
        updated_at,
      });
    store.tx(() => {
      row('replayed', 'replayed', 'b1', 5);
      row('pending', 'pending', 'b1', 1);
      row('deleting', 'deleting', 'b0', 2);
      row('active-now', 'active', 'b1', 3);
      row('active-old-boot', 'active', 'b0', 4);
      row('held-old', 'held', 'b1', 10);
      row('held-new', 'held', 'b1', 20);
    });
    const ids = (rows: { container_id: string }[]) => rows.map((r) => r.container_id);
    expect(ids(store.unfinishedAttachments('n'))).toEqual(['pending', 'deleting', 'replayed']);
    expect(ids(store.unfinishedAttachments('other'))).toEqual([]);
    expect(ids(store.reapableAttachments('n', 15, 'b1', false))).toEqual(['held-old']);
    expect(ids(store.reapableAttachments('n', 15, 'b1', true))).toEqual(['active-old-boot', 'held-old']);
    expect(ids(store.reapableAttachments('n', 5, 'b1', false))).toEqual([]);
    // The one-statement check agrees: due while any of the above is there, not for own rows.
    const tuple = (container_id: string) => ({ network: 'n', container_id, ifname: 'eth0' });
    expect(store.maintenanceDue('n', undefined, 0, 'b1', false)).toBe(true);
    store.tx(() => {
      for (const id of ['pending', 'deleting']) store.deleteAttachment(tuple(id));
    });
    expect(store.maintenanceDue('n', tuple('replayed'), 5, 'b1', false)).toBe(false);
    expect(store.maintenanceDue('n', tuple('other'), 5, 'b1', false)).toBe(true);
    expect(store.maintenanceDue('n', tuple('replayed'), 15, 'b1', false)).toBe(true);
    expect(store.maintenanceDue('n', tuple('replayed'), 5, 'b1', true)).toBe(true);
    expect(store.maintenanceDue('other', undefined, 1e15, 'b1', true)).toBe(false);
    store.close();
  });
});

describe('wrapper bookkeeping', () => {
  it('records a snapshot, holds it on DEL and gives the next sandbox the same IP', async () => {
    const first = await cni('ADD', 'sandbox1', 'web');
    expect(first.code).toBe(0);
    const ip = ipOf(first);
    // Another pod in between takes the next address, so stickiness is not host-local's round robin.
    await cni('ADD', 'other1', 'other');
    expect((await cni('DEL', 'sandbox1', 'web')).code).toBe(0);
    expect((await cni('DEL', 'sandbox1', 'web')).code).toBe(0);
    const d = db();
    expect(d.prepare("SELECT state FROM snapshots WHERE pod_name = 'web'").get()).toEqual({ state: 'held' });
    expect(d.prepare("SELECT COUNT(*) AS n FROM attachments WHERE container_id = 'sandbox1'").get()).toEqual({
      n: 0,
    });
    d.close();
    expect(reservations()).not.toContain(ip);
    const second = await cni('ADD', 'sandbox2', 'web');
    expect(ipOf(second)).toBe(ip);
  });

  it('takes the IP back from its own DELed sandbox whose reservation file survived (read-only data dir)', async () => {
    const first = await cni('ADD', 'ro1', 'rho');
    await cni('DEL', 'ro1', 'rho');
    // host-local's DEL ignores failed removals: the file can outlive our record of the sandbox.
    writeFileSync(join(dataDir, 'storenet', ipOf(first)), 'ro1\r\neth0');
    const again = await cni('ADD', 'ro2', 'rho');
    expect(ipOf(again)).toBe(ipOf(first));
    const d = db();
    expect(d.prepare("SELECT COUNT(*) AS n FROM stale_snapshots WHERE pod_name = 'rho'").get()).toEqual({
      n: 0,
    });
    d.close();
  });

  it('never duplicates an IP another container holds: fresh IP, old snapshot archived as stale', async () => {
    const first = await cni('ADD', 'c1', 'kappa');
    await cni('DEL', 'c1', 'kappa');
    writeFileSync(join(dataDir, 'storenet', ipOf(first)), 'somebody-else\r\neth0');
    const again = await cni('ADD', 'c2', 'kappa');
    expect(again.code).toBe(0);
    expect(ipOf(again)).not.toBe(ipOf(first));
    const d = db();
    expect(d.prepare("SELECT ips FROM stale_snapshots WHERE pod_name = 'kappa'").get()).toEqual({
      ips: JSON.stringify([`${ipOf(first)}/28`]),
    });
    expect(d.prepare("SELECT state FROM snapshots WHERE pod_name = 'kappa'").get()).toEqual({
      state: 'live',
    });
    d.close();
  });

  it('does not reuse a snapshot of another pod UID when UIDs must match', async () => {
    const first = await cni('ADD', 's1', 'db-0');
    await cni('DEL', 's1', 'db-0');
    await cni('ADD', 'filler', 'filler');
    const d = db();
    d.prepare("UPDATE snapshots SET pod_uid = 'previous-incarnation' WHERE pod_name = 'db-0'").run();
    d.close();
    const again = await cni('ADD', 's2', 'db-0');
    expect(again.code).toBe(0);
    expect(ipOf(again)).not.toBe(ipOf(first));
  });

  it('reaps held snapshots past the TTL during a later call', async () => {
    await cni('ADD', 'old', 'gone-pod');
    await cni('DEL', 'old', 'gone-pod');
    const d = db();
    d.prepare("UPDATE snapshots SET held_at = held_at - 7200000 WHERE pod_name = 'gone-pod'").run();
    await cni('ADD', 'x1', 'fresh', conf('host-local', { snapshotTTL: '1h' }));
    expect(d.prepare("SELECT COUNT(*) AS n FROM snapshots WHERE pod_name = 'gone-pod'").get()).toEqual({
      n: 0,
    });
    expect(d.prepare("SELECT COUNT(*) AS n FROM snapshots WHERE pod_name = 'fresh'").get()).toEqual({ n: 1 });
    d.close();
  });

  it('repairs a pending row whose process died: releases its reservation, keeps committed snapshots', async () => {
    const kept = await cni('ADD', 'committed', 'keeper');
    // Simulate a kill -9 after the delegate reserved: a pending row owned by a dead pid, plus the
    // reservation host-local made for it.
    const d = db();
    const row = d.prepare("SELECT * FROM attachments WHERE container_id = 'committed'").get() as Record<
      string,
      unknown
    >;
    d.prepare(
      `INSERT INTO attachments (network, container_id, ifname, pod_namespace, pod_name, pod_uid, netns, cni_args, state, ips, result, delegate_conf, boot_id, pid, proc_start, created_at, updated_at)
       VALUES ('storenet', 'crashed', 'eth0', 'ns', 'crash-pod', '', '', 'IgnoreUnknown=1', 'pending', '[]', NULL, ?, 'boot-1', 999999999, 'never', 0, 0)`,
    ).run(row.delegate_conf);
    writeFileSync(join(dataDir, 'storenet', '10.66.0.9'), 'crashed\r\neth0');
    await cni('ADD', 'next', 'next-pod');
    expect(reservations()).not.toContain('10.66.0.9');
    expect(d.prepare("SELECT COUNT(*) AS n FROM attachments WHERE container_id = 'crashed'").get()).toEqual({
      n: 0,
    });
    expect(d.prepare("SELECT ips FROM snapshots WHERE pod_name = 'keeper'").get()).toEqual({
      ips: JSON.stringify([`${ipOf(kept)}/28`]),
    });
    d.close();
  });

  it('replays while the delegate is offline, adopts before allocating anything new when it returns', async () => {
    const c = conf('flaky');
    const before = await cni('ADD', 'a1', 'alpha', c);
    await cni('DEL', 'a1', 'alpha', c);
    writeFileSync(flag, '');
    const replay = await cni('ADD', 'a2', 'alpha', c);
    expect(replay.code).toBe(0);
    expect(ipOf(replay)).toBe(ipOf(before));
    const none = await cni('ADD', 'b1', 'no-snapshot', c);
    expect(none.code).toBe(1);
    expect(none.out?.code).toBe(11);
    const d = db();
    expect(d.prepare("SELECT state FROM attachments WHERE container_id = 'a2'").get()).toEqual({
      state: 'replayed',
    });
    expect(reservations()).not.toContain(ipOf(replay));
    rmSync(flag);
    // Adoption must come first: the replayed address is reserved again before new pods are served.
    const newcomers = [];
    for (let i = 0; i < 5; i++) newcomers.push(ipOf(await cni('ADD', `n${i}`, `new-${i}`, c)));
    expect(newcomers).not.toContain(ipOf(replay));
    expect(new Set(newcomers).size).toBe(5);
    expect(d.prepare("SELECT state FROM attachments WHERE container_id = 'a2'").get()).toEqual({
      state: 'active',
    });
    expect(reservations()).toContain(ipOf(replay));
    d.close();
  });

  it('defers DEL while the delegate is offline and finishes it later', async () => {
    const c = conf('flaky');
    const a = await cni('ADD', 'd1', 'delta', c);
    writeFileSync(flag, '');
    expect((await cni('DEL', 'd1', 'delta', c)).code).toBe(0);
    const d = db();
    expect(d.prepare("SELECT state FROM attachments WHERE container_id = 'd1'").get()).toEqual({
      state: 'deleting',
    });
    expect(reservations()).toContain(ipOf(a));
    rmSync(flag);
    await cni('ADD', 'e1', 'echo', c);
    expect(d.prepare("SELECT COUNT(*) AS n FROM attachments WHERE container_id = 'd1'").get()).toEqual({
      n: 0,
    });
    expect(reservations()).not.toContain(ipOf(a));
    d.close();
  });

  it('GC holds attachments the runtime no longer lists; a reboot sandbox takes its IP over', async () => {
    const c = { ...conf(), cniVersion: '1.1.0' };
    const a = await cni('ADD', 'g1', 'gamma', conf());
    await cni('ADD', 'g2', 'keep', conf());
    const gc = await cni('GC', '', undefined, {
      ...c,
      'cni.dev/valid-attachments': [{ containerID: 'g2', ifname: 'eth0' }],
    });
    expect(gc.code).toBe(0);
    const d = db();
    expect(d.prepare("SELECT state FROM attachments WHERE container_id = 'g1'").get()).toEqual({
      state: 'held',
    });
    expect(d.prepare("SELECT state FROM snapshots WHERE pod_name = 'gamma'").get()).toEqual({
      state: 'held',
    });
    expect(reservations()).toContain(ipOf(a));
    d.close();
    const back = await cni('ADD', 'g3', 'gamma', conf(), { ISLET_BOOT_ID: 'boot-2' });
    expect(ipOf(back)).toBe(ipOf(a));
  });

  it('STATUS is ready while offline when a snapshot can be replayed, 50 otherwise', async () => {
    const c = { ...conf('flaky'), cniVersion: '1.1.0' };
    writeFileSync(flag, '');
    const empty = await cni('STATUS', '', undefined, c);
    expect(empty.out?.code).toBe(50);
    rmSync(flag);
    await cni('ADD', 's1', 'sigma', conf('flaky'));
    writeFileSync(flag, '');
    expect((await cni('STATUS', '', undefined, c)).code).toBe(0);
  });

  it('a taken sticky IP in an exhausted range is an error, never a replay', async () => {
    const tiny = conf('host-local');
    (tiny.ipam as { delegate: Record<string, unknown> }).delegate.ranges = [[{ subnet: '10.67.0.0/30' }]];
    const first = await cni('ADD', 't1', 'tau', tiny);
    await cni('DEL', 't1', 'tau', tiny);
    await cni('ADD', 'u1', 'u1', tiny);
    const taken = await cni('ADD', 't2', 'tau', tiny);
    // /30 has one usable address besides the gateway: taken by u1, so tau cannot have it back.
    expect(ipOf(first)).toBe('10.67.0.2');
    expect(taken.code).toBe(1);
    expect(String(taken.out?.msg)).toMatch(/no IP addresses available/);
  });
});
