/**
 * Standalone simulator for demos and benchmarks:
 *   node --import tsx test/sim/main.ts [--port N] [--host 127.0.0.1] [--tls|--no-tls]
 *     [--node NAME]... [--token TOKEN=USER]... [--bookmark-interval-ms N] [--history-limit N]
 * Prints one JSON line {url, port, caPath, dir, clientCerts: {NAME: {certPath, keyPath}}, kubeconfigs}
 * on stdout once it listens, then serves until SIGINT/SIGTERM.
 */
import { parseFlags, UsageError } from '../../lib/args.js';
import { startSimulator } from './simulator.js';

async function main(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    tls: { type: 'boolean', default: true },
    'no-tls': { type: 'boolean', default: false },
    node: { type: 'strings', default: [] },
    token: { type: 'strings', default: [] },
    'bookmark-interval-ms': { type: 'string' },
    'history-limit': { type: 'string' },
    help: { type: 'boolean', default: false },
  });
  if (flags.help) {
    process.stdout.write(
      'usage: node --import tsx test/sim/main.ts [--port N] [--host H] [--tls|--no-tls] [--node NAME]... ' +
        '[--token TOKEN=USER]... [--bookmark-interval-ms N] [--history-limit N]\n',
    );
    return 0;
  }
  const int = (name: string): number | undefined => {
    const v = flags[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v))
      throw new UsageError(`--${name} takes a non-negative integer`);
    return Number(v);
  };
  const tokens: Record<string, string> = {};
  for (const t of flags.token as string[]) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`--token takes TOKEN=USER, not "${t}"`);
    tokens[t.slice(0, eq)] = t.slice(eq + 1);
  }
  // Listen for the stop signal from the start, so a stop during start-up still cleans up.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const sim = await startSimulator({
    port: int('port'),
    host: flags.host as string,
    tls: flags.tls === true && flags['no-tls'] !== true,
    tokens,
    bookmarkIntervalMs: int('bookmark-interval-ms'),
    historyLimit: int('history-limit'),
  });
  const clientCerts: Record<string, { certPath: string; keyPath: string }> = {};
  const kubeconfigs: Record<string, string> = {};
  for (const node of flags.node as string[]) {
    if (!sim.tls) throw new UsageError('--node needs TLS');
    const cert = await sim.mintClientCert(node);
    clientCerts[node] = { certPath: cert.certPath, keyPath: cert.keyPath };
    kubeconfigs[node] = await sim.writeKubeconfig({ cert });
  }
  process.stdout.write(
    `${JSON.stringify({ url: sim.url, port: sim.port, caPath: sim.tls ? sim.caPath : null, dir: sim.dir, clientCerts, kubeconfigs })}\n`,
  );
  await stopped;
  await sim.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
