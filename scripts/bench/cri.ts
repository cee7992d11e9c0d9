/**
 * Benchmark of the pod sandbox cycle through the real CRI. Not a test: run as root with
 * `npm run bench:cri`.
 *
 * containerd 2.x instances from .k8s/bin (each with its own root, state dir, socket, CNI folders
 * and bridge with a test-only /24 of 10.224.0.0/16, ipMasq off) run side by side:
 *   - plain: a bridge + host-local conflist with Debian's plugins from /usr/lib/cni,
 *   - islet: the same conflist after `dist/islet install --root <its root> --skip-kubelet`, i.e.
 *     as the installer configures a node by default: islet wraps host-local as IPAM, no recorder,
 *   - floor: the same installation with the floor plugin (scripts/bench/floor-plugin.cjs) in
 *     place of opt/cni/bin/islet: a Node single executable that only runs host-local (as IPAM
 *     wrapper) or passes prevResult on (as recorder). Its cycle is what any Node-based plugin in
 *     islet's place costs; islet's own work is what it adds over that,
 *   - baseline (with ISLET_BENCH_BASELINE=<another islet binary>): the islet installation with
 *     that binary in place of opt/cni/bin/islet, for before/after figures from the same run,
 *   - islet-recorder (with ISLET_BENCH_RECORDER=1): installed with `--chain-recorder`, islet
 *     also chained last as the recorder, what the installer did by default before.
 * crictl drives each cycle (`runp`, `stopp`, `rmp` of a fresh pod), variants interleaved (the
 * order rotates every round, with a bare `node -e ""` run among them) so machine noise hits all
 * alike. It prints medians and p90s of each step and of the cycle against plain, the cycle ratios
 * (target ≤ 1.10× for islet), and the cost per plugin run derived from the differences and the
 * runs per step (pluginRuns), against `node -e ""` of the same run.
 *
 * containerd hands its own environment to every CNI plugin. With ISLET_BENCH_CA=1 a further pair
 * (plain-ca, islet-ca) runs with NODE_EXTRA_CA_CERTS in containerd's environment: islet's binary
 * ignores it, so that pair's ratio should be the same.
 *
 * ISLET_BENCH_CYCLES (or --cycles N) sets the measured cycles per variant (default 20).
 */
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inspectCniConfig } from '../../daemonset/installer/conflist.js';
import { mustRun, run } from '../../test/cni/process.js';
import { isletBinary } from '../../test/islet-binary.js';
import { k8sBin } from '../../test/k8s/bin.js';
import { bridgeConflist } from '../../test/node/bridge-conflist.js';
import {
  Containerd,
  type ContainerdPaths,
  containerdPaths,
  overlayWorks,
  RUNC,
} from '../../test/node/containerd.js';
import { PAUSE_IMAGE } from '../../test/node/edge-node.js';
import { killHard, processTree, removeCgroups, unmountAll } from '../../test/node/host-cleanup.js';
import { installIsletOnRoot } from '../../test/node/islet-install.js';
import { PAUSE_COMMAND, writeImageArchive } from '../../test/node/oci-image.js';
import { makeFloorPlugin } from './floor-plugin.js';
import { ensureBuilt, interleave, loadAverage, runBench } from './harness.js';
import { median, p90 } from './stats.js';

const SYSTEM_CNI_DIR = '/usr/lib/cni';
/** 10.224.0.0/16: no other test or benchmark of this repository uses it. */
const SECOND_OCTET = 224;
const WARMUP = 2;
const TARGET = 1.1;
/** What containerd would hand every plugin on a Debian host that trusts an extra CA. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Set by Ctrl-C: the measuring stops and the cleanup runs. */
let interrupted = false;

function cyclesFromArgs(): number {
  const i = process.argv.indexOf('--cycles');
  const raw = i >= 0 ? process.argv[i + 1] : process.env.ISLET_BENCH_CYCLES;
  const n = Number(raw ?? 20);
  if (!Number.isInteger(n) || n < 1) throw new Error(`cycles must be a positive integer, got ${raw}`);
  return n;
}

const STEPS = ['runp', 'stopp', 'rmp', 'cycle'] as const;
type Step = (typeof STEPS)[number];

/**
 * How often each step runs the islet binary: once per role in the conflist (IPAM wrapper, chained
 * recorder) for runp's ADD, stopp's DEL, and the DEL of containerd 2.2's rmp, which tears the
 * network down again without a netns. Counted with a logging shell wrapper in place of
 * opt/cni/bin/islet (2 runs per step with both roles).
 */
function pluginRuns(conflist: string): Record<Step, number> {
  const wiring = inspectCniConfig('bench.conflist', conflist);
  const roles = Number(wiring.wrapper) + Number(wiring.recorder);
  return { runp: roles, stopp: roles, rmp: roles, cycle: 3 * roles };
}
type Samples = Record<Step, number[]>;

/** One containerd with its own node root, CNI network and bridge. */
class Variant {
  readonly root: string;
  readonly bridge: string;
  readonly prefix: string;
  readonly network: string;
  readonly paths: ContainerdPaths;
  containerd?: Containerd;
  private bridgeCreated = false;
  private seq = 0;
  /** Sandbox IDs this variant ran (their cgroups are removed at cleanup if runc left any). */
  readonly sandboxIds = new Set<string>();

  constructor(
    readonly name: string,
    readonly dir: string,
    thirdOctet: number,
    /**
     * What runs as opt/cni/bin/islet after `islet install` (dist/islet, the floor plugin, a
     * baseline binary); undefined: islet is not installed (plain).
     */
    readonly plugin: string | undefined,
    /** containerd's environment beyond PATH and HOME (containerd hands it to every plugin). */
    readonly env: Record<string, string> = {},
    /** `islet install` flags beyond the bench's own (none: the installer's defaults). */
    readonly installFlags: string[] = [],
  ) {
    this.root = join(dir, 'root');
    this.bridge = `islcri${randomBytes(4).toString('hex')}`.slice(0, 15);
    this.prefix = `10.${SECOND_OCTET}.${thirdOctet}`;
    this.network = `islet-bench-cri-${name}-${randomBytes(3).toString('hex')}`;
    this.paths = containerdPaths(this.root, dir);
  }

  at(p: string): string {
    return join(this.root, p);
  }

  async layOut(): Promise<void> {
    for (const d of ['etc/cni/net.d', 'opt/cni/bin', 'var/lib/cni/networks', 'run', 'etc/islet'])
      mkdirSync(this.at(d), { recursive: true });
    await mustRun('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.bridgeCreated = true;
    await mustRun('ip', ['addr', 'add', `${this.prefix}.1/24`, 'dev', this.bridge]);
    await mustRun('ip', ['link', 'set', this.bridge, 'up']);
    const conflist = bridgeConflist({
      name: this.network,
      bridge: this.bridge,
      prefix: this.prefix,
      dataDir: this.at('var/lib/cni/networks'),
    });
    writeFileSync(this.at('etc/cni/net.d/10-bench.conflist'), JSON.stringify(conflist, null, 2));
    if (this.plugin === undefined) return;
    await installIsletOnRoot(this.root, ['--skip-kubelet', ...this.installFlags]);
    // The same configuration, another program behind it.
    if (this.plugin !== isletBinary) copyFileSync(this.plugin, this.at('opt/cni/bin/islet'));
  }

  /** The conflist the runtime loads (for the report: shows islet wrapped and chained). */
  activeConflist(): string {
    const dir = this.at('etc/cni/net.d');
    const name = readdirSync(dir)
      .filter((n) => /\.(conf|conflist|json)$/.test(n))
      .sort()[0];
    return name ? readFileSync(join(dir, name), 'utf8') : '';
  }

  async start(snapshotter: 'overlayfs' | 'native', images: string): Promise<void> {
    this.containerd = await Containerd.start(
      {
        paths: this.paths,
        cniBinDirs: [this.at('opt/cni/bin'), SYSTEM_CNI_DIR],
        cniConfDir: this.at('etc/cni/net.d'),
        sandboxImage: PAUSE_IMAGE,
        snapshotter,
      },
      this.env,
    );
    await this.containerd.importImages(images);
  }

  async crictl(args: string[]): Promise<string> {
    const out = await mustRun(k8sBin('crictl'), [
      '--runtime-endpoint',
      `unix://${this.paths.socket}`,
      '--timeout',
      '60s',
      ...args,
    ]);
    return out.trim();
  }

  /** runp, stopp, rmp of a fresh pod; the milliseconds of each step and of the whole. */
  async cycle(): Promise<Record<Step, number>> {
    const n = this.seq++;
    const podConfig = join(this.dir, `pod-${n}.json`);
    writeFileSync(
      podConfig,
      JSON.stringify({
        metadata: {
          name: `bench-${this.name}-${n}`,
          namespace: 'bench',
          uid: `${randomBytes(8).toString('hex')}-${n}`,
          attempt: 0,
        },
        log_directory: join(this.dir, 'pod-logs'),
        linux: {},
      }),
    );
    const t0 = performance.now();
    const id = await this.crictl(['runp', podConfig]);
    this.sandboxIds.add(id);
    const t1 = performance.now();
    await this.crictl(['stopp', id]);
    const t2 = performance.now();
    await this.crictl(['rmp', id]);
    const t3 = performance.now();
    rmSync(podConfig, { force: true });
    return { runp: t1 - t0, stopp: t2 - t1, rmp: t3 - t2, cycle: t3 - t0 };
  }

  /** Stops containerd and whatever it left: shims (by pid), their sockets, mounts under the root. */
  async stop(): Promise<void> {
    const ctd = this.containerd;
    if (!ctd) return;
    this.containerd = undefined;
    const shims = ctd.shimPids();
    const sockets = ctd.shimSockets(shims);
    const doomed = processTree(shims);
    await ctd.stop();
    await killHard([...doomed, ...processTree(ctd.shimPids())]);
    // Shims put their sockets in containerd's fixed /run/containerd/s; a killed shim leaves its own.
    for (const sock of sockets) rmSync(sock, { force: true });
    await unmountAll(this.paths.state);
    await unmountAll(this.paths.root);
  }

  async cleanup(): Promise<void> {
    await this.stop().catch(() => undefined);
    if (this.bridgeCreated) await run('ip', ['link', 'del', this.bridge]);
    removeCgroups((rel) => this.sandboxIds.has(rel.split('/').pop() ?? ''));
    // libcni caches results in its default dir, keyed by network name (unique to this run).
    const cache = '/var/lib/cni/results';
    if (existsSync(cache)) {
      for (const f of readdirSync(cache))
        if (f.startsWith(`${this.network}-`)) rmSync(join(cache, f), { force: true });
    }
  }
}

const NODE = 'node -e ""';

/** A bare Node start-up (the floor of any Node-based plugin run), with an empty environment. */
async function nodeStartup(): Promise<Partial<Record<Step, number>>> {
  const t0 = performance.now();
  await mustRun(process.execPath, ['-e', ''], { env: {} });
  return { cycle: performance.now() - t0 };
}

/**
 * `cycles` measured rounds after WARMUP, each one cycle of every variant and one `node -e ""` (the
 * reference for the per-run cost), in an order that rotates from round to round.
 */
async function measure(variants: Variant[], cycles: number): Promise<Record<string, Samples>> {
  const byName = new Map(variants.map((v) => [v.name, v]));
  const runs = await interleave(
    [...byName.keys(), NODE],
    { rounds: cycles, warmup: WARMUP, stop: () => interrupted },
    (name): Promise<Partial<Record<Step, number>>> => byName.get(name)?.cycle() ?? nodeStartup(),
  );
  const out: Record<string, Samples> = {};
  for (const [name, rs] of Object.entries(runs))
    out[name] = Object.fromEntries(STEPS.map((k) => [k, rs.flatMap((r) => r[k] ?? [])])) as Samples;
  return out;
}

const fmt = (ms: number) => ms.toFixed(1).padStart(7);

/** Prints one variant's table against plain; returns its cycle ratio. */
function report(
  title: string,
  name: string,
  plain: Samples,
  other: Samples,
  node: number[],
  runs: Record<Step, number>,
): number {
  console.log(`\n${title}`);
  console.log(
    `  ${'step'.padEnd(6)} ${'plain median'.padStart(13)} ${'p90'.padStart(8)}   ${`${name} median`.padStart(13)} ${'p90'.padStart(8)}   ratio  ${name} − plain`,
  );
  for (const k of STEPS) {
    const pm = median(plain[k]);
    const im = median(other[k]);
    console.log(
      `  ${k.padEnd(6)} ${fmt(pm)} ms   ${fmt(p90(plain[k]))} ms   ${fmt(im)} ms   ${fmt(p90(other[k]))} ms   ${(im / pm).toFixed(2)}×  ${fmt(im - pm)} ms`,
    );
  }
  const ratio = median(other.cycle) / median(plain.cycle);
  const per = (k: Step) => (median(other[k]) - median(plain[k])) / runs[k];
  console.log(`  cycle ratio ${name} / plain (medians): ${ratio.toFixed(2)}×`);
  console.log(
    `  per plugin run (median difference / runs): ${STEPS.map((k) => `${k} Δ/${runs[k]} = ${per(k).toFixed(1)} ms`).join(', ')}`,
  );
  console.log(
    `  per run (cycle Δ/${runs.cycle}) / node -e "" start-up: ${(per('cycle') / median(node)).toFixed(2)}×`,
  );
  return ratio;
}

/** A cycle ratio against the target. */
function verdict(ratio: number): string {
  return `${ratio.toFixed(2)}× (target ≤ ${TARGET}×: ${ratio <= TARGET ? 'met' : 'MISSED'})`;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('bench:cri needs root (containerd, mounts, network namespaces, a bridge): run it as root');
    return 1;
  }
  const cycles = cyclesFromArgs();
  const need = [
    ...['containerd', 'containerd-shim-runc-v2', 'ctr', 'crictl'].map(k8sBin),
    RUNC,
    '/bin/busybox',
    join(SYSTEM_CNI_DIR, 'bridge'),
    join(SYSTEM_CNI_DIR, 'host-local'),
    join(SYSTEM_CNI_DIR, 'loopback'),
  ].filter((p) => !existsSync(p));
  if (need.length) {
    console.error(
      `bench:cri: missing ${need.join(', ')} (apt-get install runc busybox-static containernetworking-plugins; .k8s/bin from the test bed build)`,
    );
    return 1;
  }
  ensureBuilt();
  const baseline = process.env.ISLET_BENCH_BASELINE;
  if (baseline !== undefined && !existsSync(baseline)) {
    console.error(`ISLET_BENCH_BASELINE=${baseline} does not exist`);
    return 1;
  }

  const dir = mkdtempSync(join(tmpdir(), 'islet-bench-cri-'));
  // One containerd per variant; the floor plugin is made here, as dist/islet is made.
  const ca = { NODE_EXTRA_CA_CERTS: CA_BUNDLE };
  const specs: { name: string; plugin?: string; env?: Record<string, string>; flags?: string[] }[] = [
    { name: 'plain' },
    { name: 'floor', plugin: makeFloorPlugin(dir) },
    { name: 'islet', plugin: isletBinary },
  ];
  if (baseline !== undefined) specs.push({ name: 'baseline', plugin: baseline });
  if (process.env.ISLET_BENCH_RECORDER === '1')
    specs.push({ name: 'islet-recorder', plugin: isletBinary, flags: ['--chain-recorder'] });
  if (process.env.ISLET_BENCH_CA === '1')
    specs.push({ name: 'plain-ca', env: ca }, { name: 'islet-ca', plugin: isletBinary, env: ca });
  // Distinct random third octets, each a /24 no route on this host covers yet.
  const routes = await mustRun('ip', ['-4', 'route', 'show']);
  const octets: number[] = [];
  while (octets.length < specs.length) {
    const o = randomBytes(1)[0]!;
    if (!octets.includes(o) && !routes.includes(`10.${SECOND_OCTET}.${o}.`)) octets.push(o);
  }
  const variants = specs.map(
    (v, i) => new Variant(v.name, join(dir, v.name), octets[i]!, v.plugin, v.env, v.flags),
  );
  // Ctrl-C ends the measuring loop, so the cleanup below still runs.
  const stopSignal = () => {
    interrupted = true;
    console.error('interrupted: cleaning up');
  };
  process.once('SIGINT', stopSignal);
  try {
    const images = join(dir, 'images.tar');
    writeImageArchive(images, [{ ref: PAUSE_IMAGE, entrypoint: PAUSE_COMMAND }]);
    const snapshotter = (await overlayWorks(dir)) ? 'overlayfs' : 'native';
    for (const v of variants) await v.layOut();
    for (const v of variants) await v.start(snapshotter, images);

    console.log(
      `islet CRI benchmark: ${cycles} cycles per variant (+${WARMUP} warm-up), crictl runp/stopp/rmp, ` +
        `variants interleaved: ${variants.map((v) => v.name).join(', ')}, ${NODE}`,
    );
    console.log(`containerd ${(await mustRun(k8sBin('containerd'), ['--version'])).trim()}`);
    console.log(`${isletBinary}, bridge + host-local from ${SYSTEM_CNI_DIR}, snapshotter ${snapshotter}`);
    if (baseline !== undefined) console.log(`baseline binary: ${baseline}`);
    const installed = variants.find((v) => v.name === 'islet')!;
    console.log(`islet variant's conflist (after islet install):\n${installed.activeConflist()}`);
    const runs = new Map(
      variants.filter((v) => v.plugin !== undefined).map((v) => [v.name, pluginRuns(v.activeConflist())]),
    );
    console.log(
      `plugin runs per cycle: ${[...runs].map(([name, r]) => `${name} ${r.cycle}`).join(', ')} (runp, stopp and rmp a third each)`,
    );
    console.log(`${new Date().toISOString()}, load average at start: ${loadAverage()}`);
    const samples = await measure(variants, cycles);
    console.log(`load average at end:   ${loadAverage()}`);
    const node = samples[NODE]!.cycle;
    if (node.length === 0) return 1;
    const ratios: Record<string, number> = {};
    for (const v of variants) {
      if (v.plugin === undefined) continue;
      const plain = v.name.endsWith('-ca') ? 'plain-ca' : 'plain';
      const title = `${v.name} against ${plain}${v.name.endsWith('-ca') ? ` (NODE_EXTRA_CA_CERTS=${CA_BUNDLE} in containerd's environment)` : ''}`;
      ratios[v.name] = report(title, v.name, samples[plain]!, samples[v.name]!, node, runs.get(v.name)!);
    }
    const cycle = (name: string) => median(samples[name]!.cycle);
    const perRun = (name: string) => (cycle(name) - cycle('plain')) / runs.get(name)!.cycle;
    console.log('\nsummary (medians of this run)');
    console.log(
      `  plain cycle ${cycle('plain').toFixed(1)} ms; node -e "" ${median(node).toFixed(1)} ms (p90 ${p90(node).toFixed(1)})`,
    );
    console.log(`  cycle with islet / plain: ${verdict(ratios.islet!)}`);
    console.log(
      `  cycle with the floor plugin / plain: ${verdict(ratios.floor!)}: what ${runs.get('floor')!.cycle} starts of any Node plugin cost`,
    );
    console.log(
      `  cycle with islet / with the floor plugin: ${(cycle('islet') / cycle('floor')).toFixed(2)}×`,
    );
    const recorder = runs.has('islet-recorder');
    for (const name of [
      'floor',
      'islet',
      ...(baseline !== undefined ? ['baseline'] : []),
      ...(recorder ? ['islet-recorder'] : []),
    ])
      console.log(
        `  per plugin run, ${name}: ${perRun(name).toFixed(1)} ms = ${(perRun(name) / median(node)).toFixed(2)}× node -e ""`,
      );
    if (baseline !== undefined) {
      console.log(
        `  cycle with the baseline / plain: ${ratios.baseline!.toFixed(2)}×; islet / baseline ${(cycle('islet') / cycle('baseline')).toFixed(2)}×`,
      );
    }
    if (recorder)
      console.log(
        `  with the chained recorder (--chain-recorder) / plain: ${ratios['islet-recorder']!.toFixed(2)}×; islet / with the recorder ${(cycle('islet') / cycle('islet-recorder')).toFixed(2)}×`,
      );
    if (ratios['islet-ca'] !== undefined)
      console.log(
        `  with NODE_EXTRA_CA_CERTS in containerd's environment: islet-ca / plain-ca ${ratios['islet-ca'].toFixed(2)}×`,
      );
    return 0;
  } finally {
    for (const v of variants) await v.cleanup();
    removeCgroups((rel) => rel === 'k8s.io');
    await unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('SIGINT', stopSignal);
  }
}

runBench(main);
