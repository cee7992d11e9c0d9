/**
 * `npm run demo`: the whole offline story of an edge node in under a minute, with real parts —
 * the API simulator as the cloud, `dist/islet proxy`, a client-node informer and kubectl through
 * it, cnitool + Debian's bridge/host-local + islet in network namespaces. Needs root. Exits 0 only
 * when every check passed; everything it created is removed, also on failure or Ctrl-C.
 */
import { isletBinary } from '../test/islet-binary.js';
import { putTestBedOnPath } from '../test/k8s/bin.js';
import { Cleanup } from './demo/cleanup.js';
import { missingRequirements } from './demo/prereqs.js';
import { Reporter } from './demo/report.js';
import { runStory, STEPS, type StoryParts } from './demo/story.js';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<number> {
  const r = new Reporter(STEPS);
  r.title("islet demo: an edge node loses its cloud, restarts offline, and keeps its pods' IPs");

  putTestBedOnPath();
  const missing = missingRequirements(isletBinary);
  if (missing.length > 0) {
    for (const m of missing) r.fail(m);
    return 1;
  }

  const cleanup = new Cleanup();
  let finishing: Promise<number> | undefined;
  // Printed once, by whichever comes first: the end of the story or a signal.
  const finish = (): Promise<number> => {
    finishing ??= (async () => {
      r.step('Clean up', STEPS);
      const problems = await cleanup.run();
      r.check(
        problems.length === 0,
        'informers and proxy stopped, simulator closed; netns, bridge and temp dirs removed',
        problems.join('; '),
      );
      // From process start: loading the TypeScript sources is part of what a user waits for.
      const seconds = process.uptime().toFixed(1);
      r.line();
      if (r.failures === 0) r.line(`all ${r.checks} checks passed in ${seconds} s`);
      else r.line(`${r.failures} of ${r.checks} checks failed (${seconds} s)`);
      return r.failures === 0 ? 0 : 1;
    })();
    return finishing;
  };

  let interrupted: { why: string; code: number } | undefined;
  const stop = new AbortController();
  const interrupt = (why: string, code: number) => {
    if (interrupted) return;
    interrupted = { why, code };
    r.fail(`${why}: stopping`);
    // The story stops at its next checkpoint; its parts are torn down after that, never under it.
    stop.abort(new Error(why));
    // A step stuck in a call that ignores the stop must still not leave the machine dirty.
    setTimeout(() => void finish().then(() => process.exit(code)), 10_000).unref();
  };
  process.once('SIGINT', () => interrupt('SIGINT', 130));
  process.once('SIGTERM', () => interrupt('SIGTERM', 143));
  process.on('unhandledRejection', (err) => interrupt(`unexpected error: ${message(err)}`, 1));

  const parts: StoryParts = {};
  try {
    await runStory(r, cleanup, parts, stop.signal);
  } catch (err) {
    // After a signal the story fails because it was told to stop: not news.
    if (!interrupted) {
      r.fail(`stopped: ${message(err)}`);
      const logs = parts.proxy?.logs ?? [];
      if (logs.length > 0) {
        r.info('last proxy log lines:');
        for (const line of logs.slice(-15)) r.info(line);
      }
    }
  }
  const code = await finish();
  return interrupted?.code ?? code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo: ${message(err)}\n`);
    process.exit(1);
  },
);
