/**
 * What islet install writes is a working CNI setup for a real runtime: a node's plain bridge +
 * host-local network, patched by the installer (by default the IPAM wrapper alone; with
 * --chain-recorder also the recorder), run by cnitool (libcni) in real network namespaces with the
 * installed binary: pods get addresses and keep them across sandboxes, CHECK passes; after
 * uninstall the original network works without islet.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../lib/sqlite.js';
import { CniLab, newPod, requireRoot, resultIps, SYSTEM_CNI_DIR } from '../cni/lab.js';
import { type FakeHost, makeHost, runIslet, snapshotTree } from './host-root.js';

const root = requireRoot('shipping/installed-chain');

describe.runIf(root)('a network patched by islet install, under cnitool', () => {
  let lab: CniLab;
  const hosts: FakeHost[] = [];
  // One network name for both settings: they share the lab's bridge and host-local's
  // reservations, so pods of the two never get the same address.
  const network = 'edge-net';

  beforeAll(async () => {
    lab = await CniLab.create({ tag: 'shp', secondOctet: 227 });
  });

  afterAll(async () => {
    await lab?.cleanup();
    for (const h of hosts) h.cleanup();
  });

  async function installedNode(setting: string, extraFlags: string[]) {
    const h = makeHost({ cni: [] });
    hosts.push(h);
    // The node's own network before islet: bridge + host-local, nothing else.
    const original = { cniVersion: '1.0.0', name: network, plugins: [lab.bridgePlugin(lab.hostLocal())] };
    writeFileSync(h.at('/etc/cni/net.d/10-edge.conflist'), JSON.stringify(original, null, 2));
    // The ConfigMap's way of pointing the plugin at its database (one per setting).
    const database = join(lab.dir, `${setting}.db`);
    writeFileSync(
      h.at('/config.yaml'),
      `plugin:\n  database: ${database}\n  linkStateFile: ${lab.linkStateFile}\n`,
    );
    const before = snapshotTree(h.root);
    const install = await runIslet([
      'install',
      '--root',
      h.root,
      '--config',
      h.at('/config.yaml'),
      ...extraFlags,
    ]);
    expect(install.code, install.stderr).toBe(0);
    const cni = {
      netDir: h.at('/etc/cni/net.d'),
      env: { CNI_PATH: `${h.at('/opt/cni/bin')}:${SYSTEM_CNI_DIR}` },
    };
    return { h, before, database, cni };
  }

  it.each([
    { setting: 'default', flags: [], plugins: ['bridge'], chainResults: 0 },
    { setting: 'chain-recorder', flags: ['--chain-recorder'], plugins: ['bridge', 'islet'], chainResults: 1 },
  ])(
    '$setting: gives pods addresses through the installed plugin, sticky across sandboxes; CHECK passes',
    async ({ setting, flags, plugins, chainResults }) => {
      const { h, before, database, cni } = await installedNode(setting, flags);
      const patched = JSON.parse(h.read('/etc/cni/net.d/10-edge.conflist'));
      expect(patched.plugins.map((p: { type: string }) => p.type)).toEqual(plugins);
      expect(patched.plugins[0].ipam.type).toBe('islet');

      const pod = newPod('web');
      const ns1 = await lab.netns();
      const add1 = await lab.cnitool('add', network, ns1, { pod, ...cni });
      expect(add1.code, add1.stderr + add1.stdout).toBe(0);
      const [ip] = resultIps(add1.json);
      expect(ip!.startsWith(`${lab.prefix}.`)).toBe(true);
      expect((await lab.ping(ns1, lab.gateway)).code).toBe(0);
      // The wrapper wrote its snapshot to the configured database; the recorder, when chained, its record.
      const db = openDatabase(database, { readonly: true });
      expect(db.prepare('SELECT count(*) AS n FROM snapshots').get()).toEqual({ n: 1 });
      expect(db.prepare('SELECT count(*) AS n FROM chain_results').get()).toEqual({ n: chainResults });
      db.close();
      // The wrapper answers CHECK by itself (its recorded addresses); the recorder compares the whole result.
      const check = await lab.cnitool('check', network, ns1, { pod, ...cni });
      expect(check.code, check.stderr + check.stdout).toBe(0);

      expect((await lab.cnitool('del', network, ns1, { pod, ...cni })).code).toBe(0);
      await lab.deleteNetns(ns1);
      const other = await lab.cnitool('add', network, await lab.netns(), { pod: newPod('other'), ...cni });
      expect(other.code).toBe(0);
      const ns2 = await lab.netns();
      const add2 = await lab.cnitool('add', network, ns2, { pod, ...cni });
      expect(add2.code, add2.stderr + add2.stdout).toBe(0);
      expect(resultIps(add2.json)).toEqual([ip]);

      // Uninstall: the network is the node's own again, byte for byte, and works without islet.
      expect((await runIslet(['uninstall', '--root', h.root])).code).toBe(0);
      expect(snapshotTree(h.root)).toEqual(before);
      const plain = await lab.cnitool('add', network, await lab.netns(), { pod: newPod('plain'), ...cni });
      expect(plain.code, plain.stderr + plain.stdout).toBe(0);
    },
  );
});
