/**
 * Benchmark of the single `islet` binary's start-up. Not a test: `npm run bench:binary`.
 *
 * In one run, interleaving the variants so machine noise hits them alike, it measures process
 * start-to-exit of
 *   - bare `node -e ""` (the baseline),
 *   - `islet version` (the single executable: no mode loaded),
 *   - a CNI VERSION call (`CNI_COMMAND=VERSION islet`, the plugin's modules loaded),
 *   - `islet proxy --help` (the proxy's modules loaded: what the CNI path must not pay for),
 *   - `node dist/islet.cjs version` (the same bundle as a plain script, no code cache),
 * and prints the sizes of the binary, the node it was made from and the bundle, medians, p90s and
 * ratios against bare Node, for wall time and for CPU time (bash `times`: robust on a busy machine).
 *
 * ISLET_BENCH_ROUNDS sets the number of measured rounds (default 30).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { distDir, isletBinary } from '../../test/islet-binary.js';
import { interleave, runBench } from './harness.js';
import { median, p90 } from './stats.js';

const ROUNDS = Number(process.env.ISLET_BENCH_ROUNDS ?? 30);
const WARMUP = 3;

interface Variant {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  stdin?: string;
  expect: RegExp;
}

function runOnce(v: Variant): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(v.cmd, v.args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...v.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stdin.end(v.stdin ?? '');
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0 || !v.expect.test(out)) {
        reject(new Error(`${v.cmd} ${v.args.join(' ')} exited ${code}: ${out}`));
      } else resolve(ms);
    });
  });
}

/**
 * CPU time (user + sys) of one run, as bash's `times` reports its children: on a shared, busy
 * machine wall time mostly measures the scheduler, CPU time what the process itself costs.
 */
function cpuOnce(v: Variant): number {
  const env = Object.entries(v.env ?? {}).map(([k, val]) => `${k}=${val}`);
  const r = spawnSync(
    'bash',
    [
      '-c',
      'printf "%s" "$0" | "$@" >/dev/null 2>&1 || exit 1; times',
      v.stdin ?? '',
      'env',
      ...env,
      v.cmd,
      ...v.args,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  const children = r.stdout.trim().split('\n')[1] ?? '';
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(children);
  if (r.status !== 0 || !m)
    throw new Error(`${v.cmd} ${v.args.join(' ')}: no CPU time (${r.stdout}${r.stderr})`);
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<number> {
  if (!existsSync(isletBinary)) {
    console.error(`${isletBinary} is missing: run npm run build`);
    return 1;
  }
  const variants: Record<string, Variant> = {
    'node -e ""': { cmd: process.execPath, args: ['-e', ''], expect: /^$/ },
    'islet version': { cmd: isletBinary, args: ['version'], expect: /^islet / },
    'CNI_COMMAND=VERSION islet': {
      cmd: isletBinary,
      args: [],
      env: { CNI_COMMAND: 'VERSION' },
      stdin: '{"cniVersion":"1.0.0"}',
      expect: /supportedVersions/,
    },
    'islet proxy --help': { cmd: isletBinary, args: ['proxy', '--help'], expect: /^Usage: islet proxy/ },
    'node dist/islet.cjs version': {
      cmd: process.execPath,
      args: [join(distDir, 'islet.cjs'), 'version'],
      expect: /^islet /,
    },
  };
  const names = Object.keys(variants);
  const samples = await interleave(names, { rounds: ROUNDS, warmup: WARMUP }, (name) =>
    runOnce(variants[name]!),
  );
  const cpu = await interleave(names, { rounds: ROUNDS, warmup: 0 }, async (name) =>
    cpuOnce(variants[name]!),
  );

  console.log(`islet binary benchmark: ${ROUNDS} rounds (+${WARMUP} warm-up), ${isletBinary}`);
  console.log('sizes:');
  console.log(`  dist/islet (single executable)               ${mb(statSync(isletBinary).size)}`);
  console.log(
    `  ${process.execPath} (node ${process.version})`.padEnd(47) + mb(statSync(process.execPath).size),
  );
  console.log(
    `  dist/islet.cjs (the bundle inside)           ${mb(statSync(join(distDir, 'islet.cjs')).size)}`,
  );
  console.log('start-to-exit (wall) and CPU time (user+sys):');
  for (const n of names) {
    const xs = samples[n]!;
    console.log(
      `  ${n.padEnd(30)} wall median ${median(xs).toFixed(1).padStart(6)} ms  p90 ${p90(xs).toFixed(1).padStart(6)} ms   cpu median ${median(cpu[n]!).toFixed(0).padStart(4)} ms`,
    );
  }
  const base = median(samples['node -e ""']!);
  const cpuBase = median(cpu['node -e ""']!);
  console.log('ratios against node -e "" (medians):');
  for (const n of names.slice(1)) {
    console.log(
      `  ${n.padEnd(30)} wall ${(median(samples[n]!) / base).toFixed(2).padStart(5)}×   cpu ${(median(cpu[n]!) / cpuBase).toFixed(2).padStart(5)}×`,
    );
  }
  const cni = median(samples['CNI_COMMAND=VERSION islet']!);
  const proxy = median(samples['islet proxy --help']!);
  console.log(
    `lazy loading: the CNI path costs ${(cni - base).toFixed(1)} ms over bare node; loading the proxy's modules adds ${(proxy - cni).toFixed(1)} ms more`,
  );
  return 0;
}

runBench(main);
