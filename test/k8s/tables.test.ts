/**
 * Tables (kubectl get) against the real kube-apiserver: the proxy's online Table equals the
 * server's, the same request offline is printed by the proxy with the server's columns and cells,
 * and the proxy's printers compute every listed kind's cells as the server does.
 */
import { beforeAll, expect, it } from 'vitest';
import { columnDefinitions, printRow } from '../../proxy/table/index.js';
import type { Gvr } from '../../proxy/types.js';
import { fastLinkArgs, Kubectl, waitReadyz } from '../proxy/harness.js';
import { type RawResponse, rawRequest } from '../sim/client.js';
import { describeOnControlPlane, proxyOnControlPlane } from './suite.js';
import { createTableObjects } from './table-objects.js';

const KUBECTL_TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const NS = `tables-${Date.now().toString(36)}`;

// biome-ignore lint/suspicious/noExplicitAny: Table JSON.
type Json = any;

/** Columns whose cells are ages: they move with the clock, everything else must be equal. */
const isAge = (c: { name: string }) => ['Age', 'Last Seen', 'First Seen'].includes(c.name);
/** "(5m11s ago)" moves with the clock too. */
const steady = (cell: unknown) => (typeof cell === 'string' ? cell.replace(/\(\S+ ago\)/, '(… ago)') : cell);

function cellsOf(table: Json): unknown[][] {
  const cols = table.columnDefinitions as { name: string }[];
  return ((table.rows ?? []) as Json[]).map((r) =>
    (r.cells as unknown[]).map((cell, i) => (isAge(cols[i]!) ? '<age>' : steady(cell))),
  );
}

/** kubectl's text with ages blanked and the spacing (which follows the widths) collapsed. */
const steadyText = (s: string) =>
  s
    .replace(/\(\S+ ago\)/g, '(ago)')
    .replace(/\b\d+[smhdy](\d+[smhd])?\b/g, 'T')
    .replace(/[ \t]+/g, ' ')
    .trim();

describeOnControlPlane(
  'Tables from the real kube-apiserver: the proxy online, offline, and its printers',
  () => {
    const rig = proxyOnControlPlane({ prefix: 'islet-tables-', args: fastLinkArgs });
    const admin = (path: string, accept = KUBECTL_TABLE) =>
      rig.cp.admin.request('GET', path, undefined, { Accept: accept });
    const viaProxy = (path: string, accept = KUBECTL_TABLE): Promise<RawResponse> =>
      rawRequest(rig.proxy.url, {}, 'GET', path, undefined, { Accept: accept });

    /** The Table requests the node identity may make (its pods, its node, lease, referenced objects). */
    const nodeReads = () => [
      `/api/v1/pods?fieldSelector=spec.nodeName%3D${rig.cp.nodeName}`,
      `/api/v1/namespaces/${NS}/pods?fieldSelector=spec.nodeName%3D${rig.cp.nodeName}&limit=3`,
      `/api/v1/nodes/${rig.cp.nodeName}`,
      `/api/v1/nodes?fieldSelector=metadata.name%3D${rig.cp.nodeName}`,
      `/api/v1/namespaces/${NS}/services`,
      `/api/v1/namespaces/${NS}/configmaps/cm1`,
      `/api/v1/namespaces/${NS}/secrets/s1`,
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${rig.cp.nodeName}`,
      `/api/v1/namespaces/${NS}/configmaps/cm1?includeObject=None`,
      `/api/v1/namespaces/${NS}/pods/p-running?includeObject=Object`,
    ];
    const online = new Map<string, Json>();
    const kubectlRuns = [
      ['get', 'pods', '-A', '--field-selector', 'spec.nodeName=edge-1'],
      ['get', 'pods', '-n', NS, '--field-selector', 'spec.nodeName=edge-1', '-o', 'wide'],
      ['get', 'configmaps', 'cm1', '-n', NS],
      ['get', 'nodes', 'edge-1', '-o', 'wide'],
    ];
    /** What kubectl prints for each of kubectlRuns through the proxy (each must succeed). */
    const kubectlPrints = async () => {
      const kubectl = new Kubectl(rig.dir, rig.proxy.url);
      const printed = new Map<string, string>();
      for (const args of kubectlRuns) {
        const r = await kubectl.run(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        printed.set(args.join(' '), r.stdout);
      }
      return printed;
    };
    let kubectlOnline = new Map<string, string>();
    /** A client that takes nothing but a Table v1beta1 gets one, row objects v1beta1 too. */
    const expectV1beta1Table = async () => {
      const beta = await viaProxy(
        `/api/v1/namespaces/${NS}/configmaps/cm1`,
        'application/json;as=Table;v=v1beta1;g=meta.k8s.io',
      );
      expect(beta.status).toBe(200);
      expect(beta.json.apiVersion).toBe('meta.k8s.io/v1beta1');
      expect(beta.json.rows[0].object.apiVersion).toBe('meta.k8s.io/v1beta1');
    };

    beforeAll(async () => {
      await createTableObjects(rig.cp, NS);
      await rig.restartProxy('online');
    });

    it('answers online the Table the server answers (row objects as asked), for every node read', async () => {
      for (const path of nodeReads()) {
        const [mine, theirs] = [await viaProxy(path), await admin(path)];
        expect(mine.status, path).toBe(200);
        expect(theirs.status, path).toBe(200);
        expect(mine.json.kind).toBe('Table');
        expect(mine.json.apiVersion).toBe('meta.k8s.io/v1');
        expect(mine.json.columnDefinitions, path).toEqual(theirs.json.columnDefinitions);
        expect(cellsOf(mine.json), path).toEqual(cellsOf(theirs.json));
        expect(
          (mine.json.rows as Json[]).map((r) => r.object),
          path,
        ).toEqual((theirs.json.rows as Json[]).map((r) => r.object));
        expect(mine.json.metadata.continue, path).toBe(theirs.json.metadata.continue);
        online.set(path, mine.json);
      }
      await expectV1beta1Table();
      kubectlOnline = await kubectlPrints();
      expect(kubectlOnline.get(kubectlRuns[1]!.join(' '))).toMatch(
        /NAME +READY +STATUS +RESTARTS +AGE +IP +NODE/,
      );
    });

    it('answers offline the same Tables, printed by the proxy, and kubectl prints the same text', async () => {
      await rig.cp.partition('refuse');
      await waitReadyz(rig.proxy, 'offline');
      for (const path of nodeReads()) {
        const before = online.get(path);
        const mine = await viaProxy(path);
        expect(mine.status, `${path}: ${mine.body.toString().slice(0, 300)}`).toBe(200);
        expect(mine.headers['content-type']).toBe('application/json');
        expect(mine.json.kind).toBe('Table');
        expect(mine.json.columnDefinitions, path).toEqual(before.columnDefinitions);
        expect(cellsOf(mine.json), path).toEqual(cellsOf(before));
        expect(
          mine.json.rows.map((r: Json) => r.conditions),
          path,
        ).toEqual(before.rows.map((r: Json) => r.conditions));
        expect(
          mine.json.rows.map((r: Json) => r.object),
          path,
        ).toEqual(before.rows.map((r: Json) => r.object));
        if (!path.includes('?') || path.includes('includeObject')) {
          expect(mine.json.metadata.resourceVersion, path).toBe(before.metadata.resourceVersion);
        }
      }
      await expectV1beta1Table();
      for (const [run, printed] of await kubectlPrints()) {
        expect(steadyText(printed), run).toBe(steadyText(kubectlOnline.get(run)!));
      }
      await rig.cp.heal();
    });

    const lists: [Gvr, string][] = [
      [{ group: '', version: 'v1', resource: 'pods' }, `/api/v1/namespaces/${NS}/pods`],
      [{ group: '', version: 'v1', resource: 'nodes' }, '/api/v1/nodes'],
      [{ group: '', version: 'v1', resource: 'services' }, `/api/v1/namespaces/${NS}/services`],
      [{ group: '', version: 'v1', resource: 'configmaps' }, `/api/v1/namespaces/${NS}/configmaps`],
      [{ group: '', version: 'v1', resource: 'secrets' }, `/api/v1/namespaces/${NS}/secrets`],
      [{ group: '', version: 'v1', resource: 'events' }, `/api/v1/namespaces/${NS}/events`],
      [
        { group: 'events.k8s.io', version: 'v1', resource: 'events' },
        `/apis/events.k8s.io/v1/namespaces/${NS}/events`,
      ],
      [{ group: '', version: 'v1', resource: 'namespaces' }, '/api/v1/namespaces'],
      [
        { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' },
        `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
      ],
      [
        { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' },
        '/apis/coordination.k8s.io/v1/leases',
      ],
      [
        { group: 'apps', version: 'v1', resource: 'deployments' },
        `/apis/apps/v1/namespaces/${NS}/deployments`,
      ],
      [{ group: 'apps', version: 'v1', resource: 'daemonsets' }, `/apis/apps/v1/namespaces/${NS}/daemonsets`],
      [
        { group: 'apps', version: 'v1', resource: 'replicasets' },
        `/apis/apps/v1/namespaces/${NS}/replicasets`,
      ],
    ];

    it.each(lists)('prints %o as the server does', async (gvr, path) => {
      const r = await rig.cp.admin.ok('GET', `${path}?includeObject=Object`, undefined, {
        Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      });
      expect(r.rows.length).toBeGreaterThan(0);
      expect(columnDefinitions(gvr)).toEqual(r.columnDefinitions);
      const now = Date.now();
      const ours = {
        columnDefinitions: r.columnDefinitions,
        rows: (r.rows as Json[]).map((row) => printRow(gvr, row.object, now)),
      };
      expect(cellsOf(ours)).toEqual(cellsOf(r));
      expect(ours.rows.map((row) => row.conditions)).toEqual((r.rows as Json[]).map((row) => row.conditions));
    });
  },
);
