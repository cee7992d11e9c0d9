import { expect } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../sim/index.js';
import { suiteRig } from '../suite-rig.js';
import { httpJson, localArgs, type RunningProxy, startProxy, upstreamArgs } from './harness.js';

/** The simulator and the proxy in front of it that the tests of one describe share. */
export interface ProxyOnSimulator {
  readonly sim: Simulator;
  /** The running proxy (the latest one after restartProxy()). */
  readonly proxy: RunningProxy;
  /** The proxy's cache, link-state file, and whatever else the tests keep there. */
  readonly dir: string;
  /** Starts the proxy again with the same flags (after it was stopped or killed). */
  restartProxy(): Promise<RunningProxy>;
}

export interface ProxyOnSimulatorOptions {
  /** Prefix of the temp dir. */
  prefix: string;
  simulator?: SimulatorOptions;
  /** The node whose client certificate the proxy presents upstream (TLS simulators), e.g. 'node-a'. */
  node?: string;
  /** What the upstream holds (and any file the proxy flags need) before the proxy starts. */
  seed?: (sim: Simulator, dir: string) => void | Promise<void>;
  /** Flags after the upstream and local ones (probes, listeners, limits). */
  args?: string[] | (() => string[]);
}

/**
 * Registers the calling describe's beforeAll and afterAll: a simulator seeded by `seed`, and
 * `dist/islet proxy` started against it with ephemeral listeners, its cache and link-state file in
 * a temp dir, and `args`; afterwards the proxy is stopped, the simulator closed, the dir removed.
 */
export function proxyOnSimulator(o: ProxyOnSimulatorOptions): ProxyOnSimulator {
  const state: { sim?: Simulator; proxy?: RunningProxy; dir?: string } = {};
  let flags: string[] = [];
  const rig = suiteRig({
    prefix: o.prefix,
    state,
    keys: ['sim', 'proxy', 'dir'],
    async start() {
      const sim = await startSimulator(o.simulator);
      state.sim = sim;
      const cert = o.node ? await sim.mintClientCert(o.node) : undefined;
      await o.seed?.(sim, state.dir!);
      const extra = typeof o.args === 'function' ? o.args() : (o.args ?? []);
      flags = [...upstreamArgs(sim, cert), ...localArgs(state.dir!), ...extra];
      state.proxy = await startProxy(flags);
    },
    async stop() {
      await state.proxy?.stop();
      await state.sim?.close();
    },
    methods: {
      async restartProxy() {
        state.proxy = await startProxy(flags);
        return state.proxy;
      },
    },
  });
  return rig;
}

/** Asserts that `url` answers `code` with a Kubernetes Status of failure; resolves to its message. */
export async function expectFailureStatus(
  url: string,
  code: number,
  init: RequestInit = {},
): Promise<string> {
  const r = await httpJson(url, init);
  expect(r.status, `${url}: ${r.text.slice(0, 300)}`).toBe(code);
  expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
  return (r.body as { message: string }).message;
}
