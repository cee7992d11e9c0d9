import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientNodeConfig, Kubectl } from '../../test/proxy/harness.js';
import type { Cleanup } from './cleanup.js';
import { cloudNodePods, NODE, NODE_SELECTOR, newCloudPod, podNames, podObject, startCloud } from './cloud.js';
import { EdgeProxy } from './edge-proxy.js';
import { NodePodInformer } from './informer.js';
import type { Reporter } from './report.js';
import { PodNetwork, type Sandbox } from './sandboxes.js';
import { waitUntil } from './wait.js';

/** What the entry point may inspect when a step fails (the proxy's logs explain most failures). */
export interface StoryParts {
  proxy?: EdgeProxy;
}

/** Steps of the story (the last one, clean-up, is run by the entry point). */
export const STEPS = 7;

const WAIT_MS = 20_000;

const same = (a: readonly string[], b: readonly string[]) => a.join('\n') === b.join('\n');

function since(t0: number): string {
  return `${Date.now() - t0} ms`;
}

/**
 * Steps 1–6 of the offline story with real parts: the simulator as the cloud, `dist/islet proxy`,
 * a client-node informer and kubectl through it, cnitool + bridge + host-local + islet in network
 * namespaces. Every resource it creates is registered with `cleanup` before it is used.
 */
export async function runStory(
  r: Reporter,
  cleanup: Cleanup,
  seen: StoryParts,
  signal: AbortSignal,
): Promise<void> {
  const step = (title: string) => {
    signal.throwIfAborted();
    r.step(title);
  };
  const until = <T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean = Boolean) =>
    waitUntil(signal, what, fn, ok, WAIT_MS);

  // ── 1 ────────────────────────────────────────────────────────────────────────────────────
  step(`The cloud, the edge proxy of ${NODE}, and an informer through it`);
  const { sim, nodeCert } = await startCloud();
  cleanup.add('simulator', () => sim.close());
  const workDir = mkdtempSync(join(tmpdir(), 'islet-demo-'));
  cleanup.add(`temp dir ${workDir}`, () => rmSync(workDir, { recursive: true, force: true }));
  const net = await PodNetwork.create(signal);
  cleanup.add(`bridge ${net.bridge}, network namespaces, ${net.stateDir}`, async () => {
    await net.cleanup();
    const left = await net.leftovers();
    if (left.length > 0) throw new Error(`still present: ${left.join(', ')}`);
  });

  const sandboxed = [newCloudPod('web-0'), newCloudPod('web-1'), newCloudPod('db-0')];
  for (const p of sandboxed) sim.create('pods', podObject(p, NODE, p.name.split('-')[0]!));
  sim.create('pods', podObject(newCloudPod('backup-job'), NODE, 'backup'));
  sim.create('pods', podObject(newCloudPod('web-9'), 'edge-2', 'web'));
  r.ok(
    `simulator (the cloud, HTTPS + client certificates) at ${sim.url}: ` +
      `${cloudNodePods(sim).length} pods on ${NODE}, 1 on edge-2`,
  );

  const proxy = new EdgeProxy({ sim, nodeCert, dir: workDir, linkStateFile: net.linkStateFile });
  seen.proxy = proxy;
  cleanup.add('islet proxy', () => proxy.kill());
  await proxy.start();
  await until(
    'link online',
    () => proxy.linkState()?.state,
    (s) => s === 'online',
  );
  r.ok(`dist/islet proxy (pid ${proxy.pid}) at ${proxy.url} → the cloud; link online`);
  r.info(`cache ${proxy.cachePath}`);
  r.info(`link state ${net.linkStateFile} (read by the islet CNI plugin)`);

  const informer = new NodePodInformer(clientNodeConfig(proxy.url), NODE_SELECTOR);
  cleanup.add('informer', () => informer.stop());
  let t0 = Date.now();
  await informer.start();
  await until('informer synced', () => same(informer.keys(), cloudNodePods(sim)));
  r.ok(
    `@kubernetes/client-node informer (${NODE_SELECTOR}) synced through the proxy: ` +
      `${informer.keys().length} pods, ${informer.lists} LIST, in ${since(t0)}`,
  );
  const kubectl = new Kubectl(workDir, proxy.url);
  const online = await kubectl.json(['get', 'pods', '-A', '--field-selector', NODE_SELECTOR]);
  r.check(
    same(podNames(online.items), informer.names()),
    `kubectl get pods --field-selector ${NODE_SELECTOR} through the proxy: ${online.items.length} pods`,
  );

  // ── 2 ────────────────────────────────────────────────────────────────────────────────────
  step('Pods get their sandboxes: cnitool → bridge → islet (IPAM wrapper) → host-local');
  r.info(`bridge ${net.bridge} with ${net.gateway} on ${net.subnet}; isGateway and ipMasq off`);
  const sandboxes = new Map<string, Sandbox>();
  for (const pod of sandboxed) {
    const sb = await net.add(pod);
    sandboxes.set(pod.name, sb);
    await describeSandbox(r, net, sb, `${pod.name}: ${sb.ip}`);
  }
  const firstIps = new Map([...sandboxes].map(([name, sb]) => [name, sb.ip]));

  // ── 3 ────────────────────────────────────────────────────────────────────────────────────
  step('Cut the link to the cloud');
  t0 = Date.now();
  await sim.partition('refuse');
  const offline = await until(
    'link offline',
    () => proxy.linkState(),
    (s) => s?.state === 'offline',
  );
  r.ok(`the proxy published "offline" ${since(t0)} after the cut: ${JSON.stringify(offline)}`);
  r.check((await proxy.readyz()) === 503, 'admin /readyz answers 503 (offline)');
  // The cloud keeps changing while the node cannot see it.
  const newcomer = newCloudPod('web-2');
  sim.create('pods', podObject(newcomer, NODE, 'web'));
  sim.patch('pods', 'web-1', { metadata: { labels: { app: 'web', rollout: '2' } } });
  sim.delete('pods', 'backup-job');
  sim.create('pods', podObject(newCloudPod('web-8'), 'edge-2', 'web'));
  r.info(
    'meanwhile in the cloud: web-2 created on edge-1, web-1 relabelled, backup-job deleted, web-8 on edge-2',
  );
  const cutAt = Date.now();
  const eventsAtCut = informer.events.length;

  // ── 4 ────────────────────────────────────────────────────────────────────────────────────
  step('Restart the proxy while offline (kill -9, start again)');
  const cached = informer.names();
  const killedPid = proxy.pid;
  await proxy.kill();
  r.ok(`proxy pid ${killedPid} killed with SIGKILL`);
  t0 = Date.now();
  await proxy.start();
  r.check(
    (await proxy.readyz()) === 503 && proxy.linkState()?.state === 'offline',
    `proxy pid ${proxy.pid} up again in ${since(t0)} on ${proxy.url}, link offline`,
  );
  // Before anyone else watches: the only pod watch the new proxy serves is the first informer's.
  await until(
    'first informer re-watching',
    () => proxy.metric('islet_watch_local_watchers', 'resource="pods"'),
    (n) => n >= 1,
  );
  r.ok(
    `the first informer lost its connection (${informer.errors} errors, restarted itself) and ` +
      `re-watches from resourceVersion ${informer.resourceVersion()}, still holding ${informer.names().length} pods`,
  );
  // A kubectl that never talked to anyone: even discovery must come from the proxy's disk.
  const freshDir = join(workDir, 'fresh-kubectl');
  mkdirSync(freshDir);
  const served = await new Kubectl(freshDir, proxy.url).json([
    'get',
    'pods',
    '-A',
    '--field-selector',
    NODE_SELECTOR,
  ]);
  r.check(
    same(podNames(served.items), cached),
    `kubectl get pods (fresh kubectl, empty discovery cache): ${served.items.length} pods served from disk`,
    `got ${podNames(served.items).join(', ')}, expected ${cached.join(', ')}`,
  );
  const late = new NodePodInformer(clientNodeConfig(proxy.url), NODE_SELECTOR);
  cleanup.add('second informer', () => late.stop());
  await late.start();
  const lateOk = await until(
    'second informer listed',
    () => late.names(),
    (n) => same(n, cached),
  )
    .then(() => true)
    .catch(() => false);
  r.check(
    lateOk,
    `a new informer started offline lists ${late.names().length} pods from the restarted proxy`,
  );
  await late.stop();

  // ── 5 ────────────────────────────────────────────────────────────────────────────────────
  step("Recreate the pods' sandboxes while offline ⇒ same IPs");
  r.info(`link state the plugin reads: ${proxy.linkState()?.state}`);
  r.info('pod restart: cnitool DEL, a new netns (new container ID), cnitool ADD');
  for (const pod of sandboxed) {
    const old = sandboxes.get(pod.name)!;
    await net.remove(old);
    const sb = await net.add(pod);
    sandboxes.set(pod.name, sb);
    await sameIp(r, net, sb, old.ip);
  }
  const bootId = randomUUID();
  r.info(`node reboot: every netns vanishes without DEL, ADD again with ISLET_BOOT_ID=${bootId}`);
  for (const sb of sandboxes.values()) await net.vanish(sb);
  for (const pod of sandboxed) {
    const sb = await net.add(pod, bootId);
    sandboxes.set(pod.name, sb);
    await sameIp(r, net, sb, firstIps.get(pod.name)!);
  }

  // ── 6 ────────────────────────────────────────────────────────────────────────────────────
  step('Restore the link ⇒ the informer catches up, nobody relists');
  const outageEvents = informer.events.slice(eventsAtCut).filter((e) => /web-[128]|backup-job/.test(e));
  r.check(
    outageEvents.length === 0,
    `offline for ${since(cutAt)}: the informer saw none of the cloud's changes meanwhile`,
    `it saw ${outageEvents.join(', ')}`,
  );
  sim.resetCounters();
  t0 = Date.now();
  await sim.heal();
  await until(
    'link online',
    () => proxy.linkState()?.state,
    (s) => s === 'online',
  );
  r.ok(`link online again after ${since(t0)}`);
  await until('informer caught up', () => same(informer.keys(), cloudNodePods(sim)));
  r.ok(
    `the informer holds the cloud's ${informer.keys().length} pods of ${NODE} ${since(t0)} after the heal`,
  );
  const missed = ['add web-2', 'update web-1', 'delete backup-job'];
  r.check(
    missed.every((e) => informer.events.includes(e)) && !informer.events.includes('add web-8'),
    `changes made during the outage arrived as events: ${missed.join(', ')}`,
  );
  const upstreamLists = sim.listCount({ resource: 'pods' });
  const watches = sim.watchCount({ resource: 'pods' });
  r.check(upstreamLists === 0, `LISTs the cloud received after reconnect: ${upstreamLists}`);
  const resumedFrom = sim.requests
    .filter((q) => q.verb === 'watch' && q.resource === 'pods')
    .map((q) => q.query.resourceVersion ?? '');
  r.check(
    watches.opened >= 1 && resumedFrom.every((rv) => rv !== '' && rv !== '0'),
    `pod watches the cloud saw after reconnect: ${watches.opened}, resumed from resourceVersion ${[...new Set(resumedFrom)].join(', ')}`,
  );
  r.check(
    informer.lists === 1,
    `informer LISTs in total: ${informer.lists} (the first sync only, no relist)`,
  );
  r.info(
    `proxy: islet_watch_relists_total{resource="pods"} = ${await proxy.metric('islet_watch_relists_total', 'resource="pods"')}`,
  );
}

async function describeSandbox(r: Reporter, net: PodNetwork, sb: Sandbox, text: string): Promise<void> {
  const inside = await net.addressIn(sb);
  const reaches = await net.reachesGateway(sb);
  const where = `netns ${sb.netns.name}${reaches === undefined ? '' : reaches ? ', reaches its gateway' : ''}`;
  r.check(inside === sb.ip && reaches !== false, `${text} (${where})`, `eth0 has ${inside}, ping ${reaches}`);
}

async function sameIp(r: Reporter, net: PodNetwork, sb: Sandbox, before: string): Promise<void> {
  const verdict = sb.ip === before ? 'same IP' : 'DIFFERENT IP';
  if (sb.ip !== before) {
    r.fail(`${sb.pod.name}: ${before} → ${sb.ip} (${verdict})`);
    return;
  }
  await describeSandbox(r, net, sb, `${sb.pod.name}: ${before} → ${sb.ip} (${verdict})`);
}
