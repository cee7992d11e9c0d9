import { afterAll, beforeAll, describe } from 'vitest';
import { localArgs, type RunningProxy, startProxy, tempDir } from '../proxy/harness.js';
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
  let cp: ControlPlane | undefined;
  let proxy: RunningProxy | undefined;
  let tmp: { dir: string; cleanup: () => void } | undefined;
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} used before it was started`);
    return v;
  };

  beforeAll(async () => {
    tmp = tempDir(o.prefix);
    cp = await startControlPlane(o.options);
  });

  afterAll(async () => {
    await proxy?.kill();
    await cp?.close();
    tmp?.cleanup();
  });

  return {
    get cp() {
      return started(cp, 'the control plane');
    },
    get proxy() {
      return started(proxy, 'the proxy');
    },
    get dir() {
      return started(tmp, 'the temp dir').dir;
    },
    async restartProxy(link) {
      const plane = started(cp, 'the control plane');
      await proxy?.stop();
      await (link === 'offline' ? plane.partition('refuse') : plane.heal());
      proxy = await startProxy([
        ...nodeUpstreamArgs(plane),
        ...localArgs(started(tmp, 'the temp dir').dir),
        ...(o.args ?? []),
      ]);
      return proxy;
    },
  };
}
