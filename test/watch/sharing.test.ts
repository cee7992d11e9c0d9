/**
 * Watch sharing: 20 client-node informers on pods and 20 on endpointslices, plus `kubectl get
 * -w`, through the built proxy ⇒ exactly one upstream watch per key, counted on the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientNodeConfig, eventually } from '../proxy/harness.js';
import {
  type Env,
  kubectlWatch,
  metricValue,
  pod,
  simState,
  slice,
  slices,
  startEnv,
  type TrackedInformer,
  trackInformer,
} from './e2e.js';

describe('shared upstream watches through the built proxy', () => {
  let env: Env;
  const informers: TrackedInformer[] = [];

  beforeAll(async () => {
    env = await startEnv('islet-watch-share-');
    for (let i = 0; i < 5; i++) env.sim.create('pods', pod(`p${i}`));
    for (let i = 0; i < 3; i++) env.sim.create(slices, slice(`svc${i}-x`, `10.0.0.${i + 1}`));
  });

  afterAll(async () => {
    await Promise.all(informers.map((i) => i.informer.stop()));
    await env?.cleanup();
  });

  it('40 informers and kubectl -w share one upstream watch per key', async () => {
    const kc = clientNodeConfig(env.proxy.url);
    for (let i = 0; i < 20; i++) informers.push(trackInformer(kc, 'pods'));
    for (let i = 0; i < 20; i++) informers.push(trackInformer(kc, 'endpointslices'));
    await Promise.all(informers.map((i) => i.informer.start()));
    const podInformers = informers.slice(0, 20);
    const sliceInformers = informers.slice(20);
    await eventually('informers synced', () =>
      informers.every((i) => i.state().length === (podInformers.includes(i) ? 5 : 3)),
    );
    const kubectl = kubectlWatch(env, ['pods', '-A', '-o', 'name']);
    try {
      await eventually(
        'kubectl listed',
        () => kubectl.out(),
        (o) => o.includes('pod/p4'),
      );
      // Every informer's watch is open once the proxy has attached it; then one change reaches all.
      env.sim.create('pods', pod('new-pod'));
      env.sim.create(slices, slice('svcnew-x', '10.0.1.1'));
      await eventually('all informers saw the new objects', () =>
        informers.every((i) => i.events.includes(podInformers.includes(i) ? 'add new-pod' : 'add svcnew-x')),
      );
      await eventually(
        'kubectl -w saw the new pod',
        () => kubectl.out(),
        (o) => o.includes('pod/new-pod'),
      );

      const podWatches = env.sim.watchCount({
        resource: 'pods',
        namespace: '',
        labelSelector: '',
        fieldSelector: '',
      });
      const sliceWatches = env.sim.watchCount({
        group: 'discovery.k8s.io',
        resource: 'endpointslices',
        namespace: '',
        labelSelector: '',
        fieldSelector: '',
      });
      expect(podWatches).toEqual({ opened: 1, open: 1 });
      expect(sliceWatches).toEqual({ opened: 1, open: 1 });
      expect(env.sim.watchCount({}).open).toBe(2);

      expect(await metricValue(env.proxy, 'islet_watch_upstream_open', 'resource="pods"')).toBe(1);
      expect(await metricValue(env.proxy, 'islet_watch_local_watchers', 'resource="pods"')).toBe(21);
      expect(
        await metricValue(
          env.proxy,
          'islet_watch_local_watchers',
          'resource="discovery.k8s.io/endpointslices"',
        ),
      ).toBe(20);
      for (const i of podInformers) expect(i.state()).toEqual(simState(env.sim, 'pods'));
      for (const i of sliceInformers) expect(i.state()).toEqual(simState(env.sim, 'endpointslices'));
      expect(informers.flatMap((i) => i.errors)).toEqual([]);
    } finally {
      kubectl.stop();
    }
  });
});
