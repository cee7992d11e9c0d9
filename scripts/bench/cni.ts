/**
 * Benchmark of the islet CNI plugin. Not a test: run as root with `npm run bench:cni`.
 *
 * One run measures every variant below, interleaved (each round runs each variant once, in a
 * rotating order) so machine noise hits them alike, and prints medians and p90s of wall time and
 * the mean CPU time (user + system) of the processes each sample ran, which a machine shared with
 * other work moves far less; the per-call ratios are printed in both:
 *   - bare `node -e ""` start-up (the baseline of the per-call targets),
 *   - one CNI VERSION call of the built dist/islet (request on a pipe, as libcni sends it),
 *   - an IPAM-wrapper ADD then DEL of dist/islet over host-local, and host-local's own ADD+DEL
 *     (subtracted, so what is left is islet's cost per call),
 *   - the same ADD+DEL of the floor plugin (scripts/bench/floor-plugin.cjs, a Node single executable
 *     that only runs host-local and hands its answer back): what any Node plugin in islet's place
 *     costs, so the report shows islet's own work apart from the price of a Node process,
 *   - the ADD+DEL cycle of a bridge + host-local + tuning conflist under cnitool: plain (the
 *     baseline of the cycle target), with islet as IPAM wrapper only, and with islet as IPAM
 *     wrapper and chained recorder.
 * Targets: islet per call ≤ 1.15× bare Node start-up, the cycle with islet as IPAM
 * wrapper ≤ 3.5× the cycle without.
 *
 * A further variant runs the same ADD+DEL with ISLET_CNI_TRACE=1 (lib/cni-trace.ts): not part of
 * the ratios (tracing itself costs a little), its per-phase timings are printed as medians so the
 * breakdown comes from the same run as the ratios, with whether V8 took the binary's code cache.
 *
 * Every process gets only PATH (and the CNI variables): NODE_EXTRA_CA_CERTS, NODE_OPTIONS and the
 * like from the caller's environment reach neither the baselines nor islet.
 *
 * ISLET_BENCH_ROUNDS sets the number of measured rounds (default 30). ISLET_BENCH_BASELINE=<path
 * of another islet binary> adds that binary's variants to the same run (before/after comparisons).
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  realpathSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CniLab, newPod, podCniArgs, SYSTEM_CNI_DIR } from '../../test/cni/lab.js';
import { type RunResult, run } from '../../test/cni/process.js';
import { isletBinary } from '../../test/islet-binary.js';
import { putTestBedOnPath } from '../../test/k8s/bin.js';
import { makeFloorPlugin } from './floor-plugin.js';
import { childrenCpuMs, ensureBuilt, interleave, loadAverage, runBench, timed } from './harness.js';
import { median, p90 } from './stats.js';

const ROUNDS = Number(process.env.ISLET_BENCH_ROUNDS ?? 30);
const WARMUP = 3;
const BASELINE = process.env.ISLET_BENCH_BASELINE;

const TARGET_PER_CALL = 1.15;
const FLOOR = 'floor plugin IPAM ADD+DEL (over host-local)';
const TARGET_CYCLE = 3.5;

type Sample = () => Promise<void>;

function ok(r: RunResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal}): ${r.stdout}${r.stderr}`);
}

const LABEL = 50;

/** One sample: its wall time and the CPU time of the processes it ran. */
interface Sampled {
  wall: number;
  cpu: number;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

function row(name: string, xs: Sampled[]): string {
  const wall = xs.map((x) => x.wall);
  const cpu = mean(xs.map((x) => x.cpu));
  return `  ${name.padEnd(LABEL)} median ${median(wall).toFixed(1).padStart(7)} ms   p90 ${p90(wall).toFixed(1).padStart(7)} ms   cpu ${cpu.toFixed(1).padStart(6)} ms`;
}

function ratio(label: string, value: number, target?: number): string {
  const verdict =
    target === undefined ? '' : `  (target ≤ ${target}×: ${value <= target ? 'met' : 'MISSED'})`;
  return `  ${label.padEnd(LABEL)} ${value.toFixed(2).padStart(6)}×${verdict}`;
}

/**
 * Runs `cmd` with `input` on a real pipe as its stdin, the way libcni (Go's os/exec) passes the
 * request. Node's own 'pipe' stdio is a socketpair, which the plugin reads differently.
 */
function runOnPipe(cmd: string, env: NodeJS.ProcessEnv, input: string, fifo: string): Promise<RunResult> {
  if (!existsSync(fifo)) execFileSync('mkfifo', ['-m', '600', fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  writeSync(writer, input);
  closeSync(writer);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [], { env, stdio: [reader, 'pipe', 'pipe'] });
    closeSync(reader);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The phase timings (ms) of an ISLET_CNI_TRACE=1 call's stderr and whether V8 took the code cache. */
function parseTrace(stderr: string): { phases: Record<string, number>; codeCache: string } | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{"isletCniTrace"')) continue;
    const t = JSON.parse(line) as { isletCniTrace: Record<string, number>; codeCache?: string };
    return { phases: t.isletCniTrace, codeCache: t.codeCache ?? 'unknown' };
  }
  return undefined;
}

/** Medians per phase of the traced calls, one column per verb (and binary). */
function printTraces(traces: Record<string, Record<string, number>[]>, codeCache: Set<string>): void {
  const columns = Object.keys(traces);
  if (columns.length === 0) return;
  const phases = [...new Set(columns.flatMap((c) => traces[c]!.flatMap((t) => Object.keys(t))))];
  console.log(
    `\nphases of a traced call (ISLET_CNI_TRACE=1), medians in ms; code cache: ${[...codeCache].join(', ')}`,
  );
  console.log(`  ${'phase'.padEnd(12)}${columns.map((c) => c.padStart(22)).join('')}`);
  for (const phase of phases) {
    const cells = columns.map((c) => {
      const xs = traces[c]!.map((t) => t[phase] ?? 0);
      return median(xs).toFixed(2).padStart(22);
    });
    console.log(`  ${phase.padEnd(12)}${cells.join('')}`);
  }
}

/** The variants of one islet binary, reached through its own CNI_PATH folder. */
interface Islet {
  /** Prefix of the variant names ('' for dist/islet). */
  tag: string;
  binary: string;
  cniPath: string;
  /** Its own NETCONFPATH and database: binaries that treat the database differently (a WAL kept
   * or checkpointed at exit) must not pay for each other's leftovers. */
  netDir: string;
  database: string;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('bench:cni needs root (network namespaces and a bridge)');
    return 1;
  }
  ensureBuilt();
  // cnitool (and the rest of the pinned test bed) from .k8s/bin, as the tests run it.
  putTestBedOnPath();
  if (BASELINE !== undefined && !existsSync(BASELINE)) {
    console.error(`ISLET_BENCH_BASELINE=${BASELINE} does not exist`);
    return 1;
  }
  const lab = await CniLab.create({ tag: 'bench', secondOctet: 239 });
  try {
    const pod = newPod('bench-0');
    const ipamNs = await lab.netns();
    // cnitool derives the container id from the netns path: the cycles get a netns of their own.
    const cycleNs = await lab.netns();
    lab.conflist({ name: 'plain', ipam: 'host-local', recorder: false, tuning: true });

    const islets: Islet[] = [
      {
        tag: '',
        binary: join(lab.binDir, 'islet'),
        cniPath: lab.cniPath,
        netDir: lab.netDir,
        database: join(lab.dir, 'islet.db'),
      },
    ];
    if (BASELINE !== undefined) {
      // Its own CNI_PATH folder, so cnitool's chains run the baseline binary as `islet`.
      const dir = join(lab.dir, 'bin-baseline');
      mkdirSync(dir);
      symlinkSync(realpathSync(BASELINE), join(dir, 'islet'));
      islets.push({
        tag: 'baseline: ',
        binary: join(dir, 'islet'),
        cniPath: `${dir}:${SYSTEM_CNI_DIR}`,
        netDir: join(lab.dir, 'net-baseline'),
        database: join(lab.dir, 'baseline.db'),
      });
    }
    for (const i of islets) {
      const common = { ipam: 'islet', tuning: true, netDir: i.netDir, database: i.database } as const;
      lab.conflist({ name: 'wrapper', recorder: false, ...common });
      lab.conflist({ name: 'wrapper-recorder', recorder: true, ...common });
    }

    const hostLocalStdin = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench-hl',
      type: 'bridge',
      ipam: lab.hostLocal(),
    });
    const hlEnv = (cmd: string) => lab.baseEnv(lab.ipamEnv(cmd, 'bench-hl', pod, ipamNs.path));
    const hostLocal = join(SYSTEM_CNI_DIR, 'host-local');
    const floor = makeFloorPlugin(lab.dir);
    const floorStdin = lab.ipamStdin('bench-floor', '1.0.0');
    const floorEnv = (cmd: string) => lab.baseEnv(lab.ipamEnv(cmd, 'bench-floor', pod, ipamNs.path));

    const traces: Record<string, Record<string, number>[]> = {};
    const codeCache = new Set<string>();
    const variants: Record<string, Sample> = {
      'node -e ""': async () => ok(await run(process.execPath, ['-e', ''], { env: lab.baseEnv() }), 'node'),
      'host-local ADD+DEL alone': async () => {
        ok(await run(hostLocal, [], { env: hlEnv('ADD'), input: hostLocalStdin }), 'host-local ADD');
        ok(await run(hostLocal, [], { env: hlEnv('DEL'), input: hostLocalStdin }), 'host-local DEL');
      },
      [FLOOR]: async () => {
        ok(await run(floor, [], { env: floorEnv('ADD'), input: floorStdin }), 'floor ADD');
        ok(await run(floor, [], { env: floorEnv('DEL'), input: floorStdin }), 'floor DEL');
      },
      'cycle: plain chain': cycle('plain', lab.cniPath, lab.netDir),
    };
    for (const i of islets) {
      const isletStdin = lab.ipamStdin('bench-ipam', '1.0.0', { database: i.database });
      const ipamEnv = (cmd: string) =>
        lab.baseEnv({ ...lab.ipamEnv(cmd, 'bench-ipam', pod, ipamNs.path), CNI_PATH: i.cniPath });
      variants[`${i.tag}islet VERSION`] = async () =>
        ok(
          await runOnPipe(
            i.binary,
            lab.baseEnv({ CNI_COMMAND: 'VERSION' }),
            '{"cniVersion":"1.0.0"}',
            join(lab.dir, 'version.fifo'),
          ),
          'VERSION',
        );
      variants[`${i.tag}islet IPAM ADD+DEL (over host-local)`] = async () => {
        ok(await run(i.binary, [], { env: ipamEnv('ADD'), input: isletStdin }), 'islet ADD');
        ok(await run(i.binary, [], { env: ipamEnv('DEL'), input: isletStdin }), 'islet DEL');
      };
      variants[`${i.tag}traced: islet IPAM ADD+DEL`] = async () => {
        for (const verb of ['ADD', 'DEL'] as const) {
          const r = await run(i.binary, [], {
            env: { ...ipamEnv(verb), ISLET_CNI_TRACE: '1' },
            input: isletStdin,
          });
          ok(r, `traced islet ${verb}`);
          const trace = parseTrace(r.stderr);
          const column = `${i.tag}${verb}`;
          if (!trace) continue;
          traces[column] = [...(traces[column] ?? []), trace.phases];
          codeCache.add(`${i.tag}${trace.codeCache}`);
        }
      };
      variants[`${i.tag}cycle: islet IPAM wrapper`] = cycle('wrapper', i.cniPath, i.netDir);
      variants[`${i.tag}cycle: islet IPAM wrapper + recorder`] = cycle(
        'wrapper-recorder',
        i.cniPath,
        i.netDir,
      );
    }

    function cycle(network: string, cniPath: string, netDir = lab.netDir): Sample {
      const env = lab.baseEnv({
        NETCONFPATH: netDir,
        CNI_PATH: cniPath,
        CNI_CACHE_DIR: lab.cacheDir,
        CNI_IFNAME: 'eth0',
        CNI_ARGS: podCniArgs(pod),
      });
      return async () => {
        ok(await run('cnitool', ['add', network, cycleNs.path], { env }), `cnitool add ${network}`);
        ok(await run('cnitool', ['del', network, cycleNs.path], { env }), `cnitool del ${network}`);
      };
    }

    console.log(`islet CNI benchmark: ${ROUNDS} rounds (+${WARMUP} warm-up), ${isletBinary}`);
    if (BASELINE !== undefined) console.log(`baseline binary: ${BASELINE}`);
    console.log(`node ${process.version}, host-local, bridge and tuning from ${SYSTEM_CNI_DIR}`);
    console.log(`${new Date().toISOString()}, load average at start: ${loadAverage()}\n`);
    const s = await interleave(
      Object.keys(variants),
      { rounds: ROUNDS, warmup: WARMUP },
      async (name): Promise<Sampled> => {
        const cpu = childrenCpuMs();
        const wall = await timed(variants[name]!);
        return { wall, cpu: childrenCpuMs() - cpu };
      },
    );
    console.log(`load average at end:   ${loadAverage()}\n`);

    console.log(
      'medians (and p90) of wall time, means of CPU time (user+sys of the processes a sample ran), variants interleaved',
    );
    for (const [k, xs] of Object.entries(s)) console.log(row(k, xs));
    printTraces(traces, codeCache);

    const m = (name: string) => median((s[name] ?? []).map((x) => x.wall));
    const c = (name: string) => mean((s[name] ?? []).map((x) => x.cpu));
    const node = m('node -e ""');
    const hl = m('host-local ADD+DEL alone');
    const plain = m('cycle: plain chain');
    const floorPerCall = (m(FLOOR) - hl) / 2;
    const cpuPerCall = (name: string) => (c(name) - c('host-local ADD+DEL alone')) / 2;
    console.log("\nthe floor: any Node plugin in islet's place");
    console.log(ratio('floor plugin (ADD+DEL − host-local) / 2 / node', floorPerCall / node));
    console.log(ratio('  the same in CPU time', cpuPerCall(FLOOR) / c('node -e ""')));
    for (const i of islets) {
      const version = m(`${i.tag}islet VERSION`);
      const addDel = m(`${i.tag}islet IPAM ADD+DEL (over host-local)`);
      const wrapper = m(`${i.tag}cycle: islet IPAM wrapper`);
      const full = m(`${i.tag}cycle: islet IPAM wrapper + recorder`);
      console.log(`\n${i.tag || 'dist/islet: '}ratios against the baselines`);
      console.log(ratio('VERSION / node start-up', version / node, TARGET_PER_CALL));
      console.log(
        ratio(
          '(ADD+DEL − host-local ADD+DEL) / 2 / node start-up',
          (addDel - hl) / 2 / node,
          TARGET_PER_CALL,
        ),
      );
      console.log(
        ratio(
          '  the same in CPU time',
          cpuPerCall(`${i.tag}islet IPAM ADD+DEL (over host-local)`) / c('node -e ""'),
        ),
      );
      console.log(
        `  ${"islet's own work per call ((ADD+DEL − floor's) / 2)".padEnd(LABEL)} ${((addDel - hl) / 2 - floorPerCall).toFixed(1).padStart(6)} ms, CPU ${(cpuPerCall(`${i.tag}islet IPAM ADD+DEL (over host-local)`) - cpuPerCall(FLOOR)).toFixed(1)} ms`,
      );
      console.log(ratio('cycle with islet IPAM wrapper / plain cycle', wrapper / plain, TARGET_CYCLE));
      console.log(ratio('cycle with wrapper + recorder / plain cycle', full / plain));
      // What each islet run adds to a cycle (2 runs as wrapper, 4 with the recorder), per node start-up.
      console.log(ratio('(wrapper cycle − plain) / 2 runs / node start-up', (wrapper - plain) / 2 / node));
      console.log(ratio('(wrapper+recorder cycle − plain) / 4 runs / node', (full - plain) / 4 / node));
    }
    if (BASELINE !== undefined) {
      console.log('\ndist/islet against the baseline binary (wall medians; CPU means)');
      for (const name of [
        'islet VERSION',
        'islet IPAM ADD+DEL (over host-local)',
        'cycle: islet IPAM wrapper',
        'cycle: islet IPAM wrapper + recorder',
      ]) {
        console.log(
          `${ratio(name, m(name) / m(`baseline: ${name}`))}   CPU ${(c(name) / c(`baseline: ${name}`)).toFixed(2)}×`,
        );
      }
    }
    return 0;
  } finally {
    await lab.cleanup();
  }
}

runBench(main);
