/**
 * `npm run e2e:node`: the offline reboot of a real edge node (containerd + kubelet + kube-proxy
 * against a real control plane with kube-controller-manager), once with islet and once without,
 * printed side by side. Needs root and the pinned test bed (.k8s/bin). The same scenario module
 * runs in CI as test/node/offline-reboot.test.ts. Exits 0 when the islet run kept every pod, its
 * address, its ConfigMap/Secret and the Service offline and the API server saw the same pods after.
 */
import { putTestBedOnPath } from '../test/k8s/bin.js';
import { controlPlaneMissing } from '../test/k8s/control-plane.js';
import { edgeNodeMissing } from '../test/node/edge-node.js';
import { fullReport, isletShortfalls } from '../test/node/offline-report.js';
import { runOfflineScenario, type ScenarioResult } from '../test/node/offline-scenario.js';

async function main(): Promise<number> {
  putTestBedOnPath();
  const missing = controlPlaneMissing() || edgeNodeMissing();
  if (missing) {
    console.error(`e2e:node cannot run here: ${missing}`);
    return 1;
  }
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const only = process.env.ISLET_E2E_ONLY;
  const runs: ScenarioResult[] = [];
  if (only !== 'control') runs.push(await runOfflineScenario({ islet: true, log }));
  if (only !== 'islet') runs.push(await runOfflineScenario({ islet: false, log }));
  console.log(`\n${fullReport(runs)}`);
  const islet = runs.find((r) => r.islet);
  const bad = islet ? isletShortfalls(islet) : [];
  for (const b of bad) console.log(`FAIL (islet): ${b}`);
  if (islet && !bad.length) console.log('islet run: every check passed');
  return bad.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
