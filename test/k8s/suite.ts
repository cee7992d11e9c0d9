import { describe } from 'vitest';
import { localArgs, type RunningProxy, startProxy } from '../proxy/harness.js';
import { suiteRig } from '../suite-rig.js';
import {
  type ControlPlane,
  type ControlPlaneOptions,
  controlPlaneMissing,
  nodeUpstreamArgs,
  startControlPlane,
} from './control-plane.js';

/** describe() for a suite that needs the real control plane: skipped, with the reason printed, when its binaries are not built. */
export function describeOnControlPlane(title: string, body: () => void): void {
  const missing = controlPlaneMissing();
  if (missing) console.warn(`skipping "${title}": ${missing}`);
  describe.skipIf(missing)(title, body);
}

/** The real control plane and the node's proxy in front of it that the tests of one suite share. */
export interface ProxyOnControlPlane {
  readonly cp: ControlPlane;
  /** The proxy last started (the suite's tests start it). */
  readonly proxy: RunningProxy;
  /** The proxy's cache and link-state file, and the suite's kubectl caches. */
  readonly dir: string;
  /**
   * Stops the running proxy, if any, puts the link (the relay) `link`, and starts the proxy on the
   * same cache: after 'offline' it has nothing but what it kept on disk.
   */
  restartProxy(link: 'online' | 'offline'): Promise<RunningProxy>;
}

/**
 * Registers the calling suite's beforeAll and afterAll: the real control plane (with `options`), and
 * `dist/islet proxy` as the node runs it against the relay with its cache in a temp dir and `args`,
 * started by restartProxy(); afterwards the proxy is killed, the control plane closed, the dir gone.
 */
export function proxyOnControlPlane(
  o: { prefix: string; args?: string[]; options?: ControlPlaneOptions } = { prefix: 'islet-k8s-' },
): ProxyOnControlPlane {
  const state: { cp?: ControlPlane; proxy?: RunningProxy; dir?: string } = {};
  const rig = suiteRig({
    prefix: o.prefix,
    state,
    keys: ['cp', 'proxy', 'dir'],
    async start() {
      state.cp = await startControlPlane(o.options);
    },
    async stop() {
      await state.proxy?.kill();
      await state.cp?.close();
    },
    methods: {
      async restartProxy(link: 'online' | 'offline') {
        await state.proxy?.stop();
        await (link === 'offline' ? rig.cp.partition('refuse') : rig.cp.heal());
        state.proxy = await startProxy([
          ...nodeUpstreamArgs(rig.cp),
          ...localArgs(rig.dir),
          ...(o.args ?? []),
        ]);
        return state.proxy;
      },
    },
  });
  return rig;
}
