/**
 * Records the column definitions kube-apiserver's printers answer for the kinds the proxy prints
 * offline (proxy/table/columns.json). Run against the pinned test bed after a Kubernetes bump:
 *
 *   node --import tsx scripts/table-columns.ts
 *
 * The golden test test/k8s/tables.test.ts checks the file against the running server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/islet-binary.js';
import { startControlPlane } from '../test/k8s/control-plane.js';
import { createTableObjects } from '../test/k8s/table-objects.js';
import { widgetsCrd } from '../test/k8s/widgets.js';

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

/** "group/resource" (core: "/resource") → a LIST path that answers it. */
const PRINTED: Record<string, string> = {
  '/pods': '/api/v1/pods',
  '/nodes': '/api/v1/nodes',
  '/services': '/api/v1/services',
  '/configmaps': '/api/v1/configmaps',
  '/secrets': '/api/v1/secrets',
  '/events': '/api/v1/events',
  'events.k8s.io/events': '/apis/events.k8s.io/v1/events',
  '/namespaces': '/api/v1/namespaces',
  'discovery.k8s.io/endpointslices': '/apis/discovery.k8s.io/v1/endpointslices',
  'coordination.k8s.io/leases': '/apis/coordination.k8s.io/v1/leases',
  'apps/deployments': '/apis/apps/v1/deployments',
  'apps/daemonsets': '/apis/apps/v1/daemonsets',
  'apps/replicasets': '/apis/apps/v1/replicasets',
  // A custom resource without printer columns: the server's default (Name, Age).
  '*': '/apis/islet.test/v1/widgets',
};

/** A CRD without additionalPrinterColumns, for the default columns of custom resources. */
async function createWidgets(cp: Awaited<ReturnType<typeof startControlPlane>>): Promise<void> {
  await cp.admin.ok(
    'POST',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    widgetsCrd({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
  );
  for (let i = 0; i < 100; i++) {
    const r = await cp.admin.request('GET', '/apis/islet.test/v1/widgets');
    if (r.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('widgets CRD never served');
}

async function main(): Promise<void> {
  const cp = await startControlPlane();
  try {
    await createTableObjects(cp, 'table-columns');
    await createWidgets(cp);
    const out: Record<string, unknown> = {};
    for (const [key, path] of Object.entries(PRINTED)) {
      const table = await cp.admin.ok('GET', `${path}?limit=1`, undefined, { Accept: TABLE });
      out[key] = table.columnDefinitions;
    }
    const file = join(repoRoot, 'proxy', 'table', 'columns.json');
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    await cp.close();
  }
}

await main();
