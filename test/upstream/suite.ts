import { describe } from 'vitest';
import type { RunningProxy } from '../proxy/harness.js';
import { suiteRig } from '../suite-rig.js';
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
  const state: { up?: TestUpstream; proxy?: RunningProxy; dir?: string } = {};
  const rig = suiteRig({
    prefix: `${o.prefix}${c.kind}-`,
    state,
    keys: ['up', 'proxy', 'dir'],
    async start() {
      const up = await c.start(o.options);
      state.up = up;
      await o.seed?.(up);
      state.proxy = await up.startProxy(state.dir!);
    },
    async stop() {
      await state.proxy?.stop();
      await state.up?.close();
    },
    methods: {
      async restartProxy() {
        state.proxy = await rig.up.startProxy(rig.dir);
        return state.proxy;
      },
    },
  });
  return rig;
}
