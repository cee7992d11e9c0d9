import { afterAll, beforeAll, describe } from 'vitest';
import { type RunningProxy, tempDir } from '../proxy/harness.js';
import { type TestUpstream, type UpstreamCase, type UpstreamOptions, upstreams } from './upstream.js';

/**
 * `title ($kind upstream)` once per upstream (describe.each(upstreams())), the real case skipped
 * with its reason when it cannot run here.
 */
export function describeOnUpstreams(title: string, body: (c: UpstreamCase) => void): void {
  describe.each(upstreams())(`${title} ($kind upstream)`, (c) => {
    describe.skipIf(c.skip !== '')(c.skip || 'runs', () => body(c));
  });
}

/** The upstream and the node's proxy in front of it that the tests of one suite share. */
export interface ProxyOnUpstream {
  readonly up: TestUpstream;
  /** The running proxy (the latest one after restartProxy()). */
  readonly proxy: RunningProxy;
  /** The proxy's cache and link-state file, and the suite's kubectl caches. */
  readonly dir: string;
  /** Starts the proxy again on the same cache (after it was stopped or killed). */
  restartProxy(): Promise<RunningProxy>;
}

/**
 * Registers the calling suite's beforeAll and afterAll: upstream `c` started with `options` and
 * seeded by `seed` (as admin), then `dist/islet proxy` as the node runs it against it, with its
 * cache and link-state file in a temp dir; afterwards the proxy stops, the upstream closes, the dir
 * goes.
 */
export function proxyOnUpstream(
  c: UpstreamCase,
  o: { prefix: string; options?: UpstreamOptions; seed?: (up: TestUpstream) => Promise<void> },
): ProxyOnUpstream {
  let up: TestUpstream | undefined;
  let proxy: RunningProxy | undefined;
  let tmp: { dir: string; cleanup: () => void } | undefined;
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} used before the suite's beforeAll`);
    return v;
  };

  beforeAll(async () => {
    tmp = tempDir(`${o.prefix}${c.kind}-`);
    up = await c.start(o.options);
    await o.seed?.(up);
    proxy = await up.startProxy(tmp.dir);
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    tmp?.cleanup();
  });

  return {
    get up() {
      return started(up, 'the upstream');
    },
    get proxy() {
      return started(proxy, 'the proxy');
    },
    get dir() {
      return started(tmp, 'the temp dir').dir;
    },
    async restartProxy() {
      proxy = await started(up, 'the upstream').startProxy(started(tmp, 'the temp dir').dir);
      return proxy;
    },
  };
}
