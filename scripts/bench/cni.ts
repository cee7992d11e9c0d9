/**
 * Benchmark of the islet CNI plugin (issue 2). Not a test: run as root with `npm run bench:cni`.
 *
 * In one run, interleaving the variants so machine noise hits them alike, it measures
 *  (a) one plugin invocation of the built dist/islet (CNI VERSION, and an IPAM-wrapper ADD+DEL
 *      over host-local) against bare `node -e ""` start-up and against host-local alone;
 *  (b) the ADD+DEL cycle of a bridge + host-local + tuning conflist under cnitool, with and
 *      without islet (IPAM wrapper + chained recorder).
 * It prints medians and the ratios the issue sets targets for (plugin ≤ 1.2× bare Node start-up,
 * cycle ≤ 3.5× the chain without islet).
 *
 * ISLET_BENCH_ROUNDS sets the number of measured rounds (default 30).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CniLab, newPod, podCniArgs, SYSTEM_CNI_DIR } from '../../test/cni/lab.js';
import { type RunResult, run } from '../../test/cni/process.js';
import { isletBinary, repoRoot } from '../../test/islet-binary.js';

const ROUNDS = Number(process.env.ISLET_BENCH_ROUNDS ?? 30);
const WARMUP = 3;

type Sample = () => Promise<void>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.9) - 1)]!;
}

function ok(r: RunResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal}): ${r.stdout}${r.stderr}`);
}

async function time(fn: Sample): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs every variant once per round, in a rotating order, after a few warm-up rounds. */
async function measure(variants: Record<string, Sample>): Promise<Record<string, number[]>> {
  const names = Object.keys(variants);
  const out: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const ms = await time(variants[name]!);
      if (round >= WARMUP) out[name]!.push(ms);
    }
  }
  return out;
}

function row(name: string, xs: number[]): string {
  return `  ${name.padEnd(44)} median ${median(xs).toFixed(1).padStart(7)} ms   p90 ${p90(xs).toFixed(1).padStart(7)} ms`;
}

function ratio(label: string, value: number, target?: number): string {
  const verdict =
    target === undefined
      ? ''
      : value <= target
        ? `  (target ≤ ${target}×: met)`
        : `  (target ≤ ${target}×: MISSED)`;
  return `  ${label.padEnd(44)} ${value.toFixed(2).padStart(6)}×${verdict}`;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('bench:cni needs root (network namespaces and a bridge)');
    return 1;
  }
  if (!existsSync(isletBinary)) {
    execFileSync(process.execPath, [join(repoRoot, 'scripts/build.mjs')], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
  }
  const lab = await CniLab.create({ tag: 'bench', secondOctet: 239 });
  try {
    const pod = newPod('bench-0');
    const islet = join(lab.binDir, 'islet');
    const ipamNs = await lab.netns();
    const cycleNs = await lab.netns();
    lab.conflist({ name: 'with-islet', ipam: 'islet', recorder: true, tuning: true });
    lab.conflist({ name: 'plain', ipam: 'host-local', recorder: false, tuning: true });

    const ipamEnv = (cmd: string) => lab.baseEnv(lab.ipamEnv(cmd, 'bench-ipam', pod, ipamNs.path));
    const isletStdin = lab.ipamStdin('bench-ipam');
    const hostLocalStdin = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench-hl',
      type: 'bridge',
      ipam: lab.hostLocal(),
    });
    const hlEnv = (cmd: string) => lab.baseEnv(lab.ipamEnv(cmd, 'bench-hl', pod, ipamNs.path));
    const cnitoolEnv = lab.baseEnv({
      NETCONFPATH: lab.netDir,
      CNI_PATH: lab.cniPath,
      CNI_CACHE_DIR: lab.cacheDir,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: podCniArgs(pod),
    });

    console.log(`islet CNI benchmark: ${ROUNDS} rounds (+${WARMUP} warm-up), ${isletBinary}`);
    console.log(`node ${process.version}, host-local and bridge from ${SYSTEM_CNI_DIR}\n`);

    const a = await measure({
      'node -e ""': async () => ok(await run(process.execPath, ['-e', ''], { env: lab.baseEnv() }), 'node'),
      'islet VERSION': async () =>
        ok(await run(islet, [], { env: lab.baseEnv({ CNI_COMMAND: 'VERSION' }) }), 'VERSION'),
      'islet IPAM ADD+DEL (over host-local)': async () => {
        ok(await run(islet, [], { env: ipamEnv('ADD'), input: isletStdin }), 'islet ADD');
        ok(await run(islet, [], { env: ipamEnv('DEL'), input: isletStdin }), 'islet DEL');
      },
      'host-local ADD+DEL alone': async () => {
        const hl = join(SYSTEM_CNI_DIR, 'host-local');
        ok(await run(hl, [], { env: hlEnv('ADD'), input: hostLocalStdin }), 'host-local ADD');
        ok(await run(hl, [], { env: hlEnv('DEL'), input: hostLocalStdin }), 'host-local DEL');
      },
    });
    const b = await measure({
      'cnitool ADD+DEL bridge+host-local+tuning': async () => {
        ok(await run('cnitool', ['add', 'plain', cycleNs.path], { env: cnitoolEnv }), 'cnitool add plain');
        ok(await run('cnitool', ['del', 'plain', cycleNs.path], { env: cnitoolEnv }), 'cnitool del plain');
      },
      'cnitool ADD+DEL … with islet IPAM + recorder': async () => {
        ok(
          await run('cnitool', ['add', 'with-islet', cycleNs.path], { env: cnitoolEnv }),
          'cnitool add islet',
        );
        ok(
          await run('cnitool', ['del', 'with-islet', cycleNs.path], { env: cnitoolEnv }),
          'cnitool del islet',
        );
      },
    });

    const m = (xs: number[] | undefined) => median(xs ?? []);
    console.log('(a) one plugin invocation');
    for (const [k, xs] of Object.entries(a)) console.log(row(k, xs));
    const node = m(a['node -e ""']);
    const version = m(a['islet VERSION']);
    const isletAddDel = m(a['islet IPAM ADD+DEL (over host-local)']);
    const hlAddDel = m(a['host-local ADD+DEL alone']);
    console.log(ratio('islet VERSION / node start-up', version / node, 1.2));
    console.log(ratio('islet ADD or DEL (half a cycle) / node start-up', isletAddDel / 2 / node));
    console.log(
      ratio('islet ADD+DEL minus host-local / 2× node', (isletAddDel - hlAddDel) / (2 * node), 1.2),
    );
    console.log('\n(b) ADD+DEL cycle through cnitool');
    for (const [k, xs] of Object.entries(b)) console.log(row(k, xs));
    const plain = m(b['cnitool ADD+DEL bridge+host-local+tuning']);
    const withIslet = m(b['cnitool ADD+DEL … with islet IPAM + recorder']);
    console.log(ratio('cycle with islet / cycle without', withIslet / plain, 3.5));
    // A cycle with islet runs it four times (IPAM ADD and DEL, recorder ADD and DEL): this is what
    // each of those adds, against one bare Node start-up.
    console.log(ratio('(with − without) / 4 islet runs / node start-up', (withIslet - plain) / 4 / node));
    return 0;
  } finally {
    await lab.cleanup();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
