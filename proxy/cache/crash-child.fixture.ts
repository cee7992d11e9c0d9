/**
 * Test fixture (not a test): relists a view forever so store.test.ts can kill -9 this process
 * mid-transaction. Round r writes every pod at resourceVersion r*100000+i and the list at
 * r*100000+99999, so a consistent store has all pods and the view from one round.
 */
import { CacheStore } from './store.js';

const [path, countArg] = process.argv.slice(2);
const count = Number(countArg);
const store = new CacheStore({ path: path! });
const view = {
  identity: 'node',
  gvr: { group: '', version: 'v1', resource: 'pods' },
  namespace: '',
  labelSelector: '',
  fieldSelector: '',
};
for (let r = 1; ; r++) {
  const items = Array.from({ length: count }, (_, i) => ({
    metadata: {
      name: `p${i}`,
      namespace: 'default',
      resourceVersion: String(r * 100000 + i),
      labels: { round: String(r) },
    },
    spec: { nodeName: 'node-a', padding: 'x'.repeat(2000) },
  }));
  store.applyList(view, {
    apiVersion: 'v1',
    kind: 'PodList',
    metadata: { resourceVersion: String(r * 100000 + 99999) },
    items,
  });
  if (r === 2) process.stdout.write('ready\n');
}
