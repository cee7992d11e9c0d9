/**
 * The start of a long-running subcommand (`islet proxy`, `islet webhook`): its flags parsed (a
 * usage error is exit code 2, with a pointer to --help), --help printed, then the service run with
 * a logger at the configured level until it returns its exit code. A failure is logged and the
 * process exits 1 shortly after: whatever a half-started service still holds open (a listener
 * bound before the next one failed) must not keep it alive.
 */
import { UsageError } from './args.js';

interface FailureLog {
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface Service<C extends { logLevel: string }, L extends FailureLog> {
  /** The subcommand, as messages and log lines name it: `islet NAME`, component NAME. */
  name: string;
  help: string;
  parse: (argv: string[]) => C | 'help';
  createLogger: (opts: { level: C['logLevel']; fields: Record<string, unknown> }) => L;
  run: (config: C, log: L) => Promise<number>;
}

export async function runService<C extends { logLevel: string }, L extends FailureLog>(
  service: Service<C, L>,
  argv: string[],
): Promise<number> {
  let config: C | 'help';
  try {
    config = service.parse(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`islet ${service.name}: ${err.message}\n(see islet ${service.name} --help)\n`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(service.help);
    return 0;
  }
  const log = service.createLogger({ level: config.logLevel, fields: { component: service.name } });
  try {
    return await service.run(config, log);
  } catch (err) {
    log.error(`${service.name} failed`, { error: err });
    setTimeout(() => process.exit(1), 200).unref();
    return 1;
  }
}
