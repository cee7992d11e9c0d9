import { describe, expect, it } from 'vitest';
import { humanDuration, since } from './duration.js';
import { formatLabelSelector, selectorString } from './format.js';
import {
  buildTable,
  columnDefinitions,
  includeObjectOf,
  printRow,
  requestedTable,
  reshapeTable,
  withFullObjects,
} from './index.js';
import { printPod } from './pods.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const NOW = Date.parse('2026-01-10T12:00:00Z');
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const pods = { group: '', version: 'v1', resource: 'pods' };

describe('humanDuration (Kubernetes HumanDuration rules)', () => {
  it.each([
    [-3 * S, '<invalid>'],
    [-1.5 * S, '0s'],
    [0, '0s'],
    [45 * S, '45s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [5 * M + 10 * S, '5m10s'],
    [10 * M + 30 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H + 5 * M, '8h'],
    [47 * H, '47h'],
    [2 * D + 5 * H, '2d5h'],
    [3 * D, '3d'],
    [8 * D + 5 * H, '8d'],
    [729 * D, '729d'],
    [2 * 365 * D + 3 * D, '2y3d'],
    [3 * 365 * D, '3y'],
    [9 * 365 * D, '9y'],
  ])('%d ms reads %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it('prints an unset timestamp as <unknown>', () => {
    expect(since(undefined, NOW)).toBe('<unknown>');
    expect(since('', NOW)).toBe('<unknown>');
    expect(since(at(90 * S), NOW)).toBe('90s');
  });
});

describe('label selectors as the printers format them', () => {
  it('sorts requirements by key and renders every operator', () => {
    expect(
      selectorString({
        matchLabels: { b: '2', a: '1' },
        matchExpressions: [
          { key: 'c', operator: 'NotIn', values: ['y', 'x'] },
          { key: 'd', operator: 'Exists' },
          { key: 'e', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=1,b=2,c notin (x,y),d,!e');
    expect(formatLabelSelector({})).toBe('<none>');
    expect(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Near' }] })).toBe('<error>');
  });
});

describe('the pod printer', () => {
  const base = (status: object, spec: object = {}, meta: object = {}) => ({
    metadata: { name: 'p', creationTimestamp: at(3 * H), ...meta },
    spec: { nodeName: 'edge-1', containers: [{ name: 'a' }], ...spec },
    status,
  });
  const cells = (pod: object) => printPod(pod, NOW).cells;

  it('counts restarts with the time of the last one', () => {
    const pod = base({
      phase: 'Running',
      podIPs: [{ ip: '10.0.0.1' }],
      containerStatuses: [
        {
          name: 'a',
          ready: true,
          restartCount: 3,
          state: { running: {} },
          lastState: { terminated: { finishedAt: at(5 * M + 10 * S) } },
        },
      ],
    });
    expect(cells(pod)).toEqual([
      'p',
      '1/1',
      'Running',
      '3 (5m10s ago)',
      '3h',
      '10.0.0.1',
      'edge-1',
      '<none>',
      '<none>',
    ]);
  });

  it('reads Terminating while deleted, Unknown for a lost node, and keeps a terminal phase', () => {
    const running = {
      phase: 'Running',
      containerStatuses: [{ name: 'a', ready: true, state: { running: {} } }],
    };
    expect(cells(base(running, {}, { deletionTimestamp: at(0) }))[2]).toBe('Terminating');
    expect(cells(base({ ...running, reason: 'NodeLost' }, {}, { deletionTimestamp: at(0) }))[2]).toBe(
      'Unknown',
    );
    const done = base(
      {
        phase: 'Succeeded',
        containerStatuses: [{ name: 'a', state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
      },
      {},
      { deletionTimestamp: at(0) },
    );
    expect(cells(done)[2]).toBe('Completed');
    expect(printPod(done, NOW).conditions?.[0]?.reason).toBe('Succeeded');
  });

  it('reports init containers, exit codes, signals and scheduling gates', () => {
    const init = (state: object) =>
      base(
        { phase: 'Pending', initContainerStatuses: [{ name: 'i', restartCount: 0, state }] },
        { initContainers: [{ name: 'i' }] },
      );
    expect(cells(init({ terminated: { exitCode: 2 } }))[2]).toBe('Init:ExitCode:2');
    expect(cells(init({ terminated: { exitCode: 137, signal: 9 } }))[2]).toBe('Init:Signal:9');
    expect(cells(init({ waiting: { reason: 'ErrImagePull' } }))[2]).toBe('Init:ErrImagePull');
    expect(cells(init({ running: {} }))[2]).toBe('Init:0/1');
    const gated = base({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', reason: 'SchedulingGated' }],
    });
    expect(cells(gated)[2]).toBe('SchedulingGated');
    const killed = base({
      phase: 'Running',
      containerStatuses: [{ name: 'a', state: { terminated: { signal: 15 } } }],
    });
    expect(cells(killed)[2]).toBe('Signal:15');
  });

  it('counts a started sidecar as a container and a completed one with a runner as Running', () => {
    const pod = base(
      {
        phase: 'Running',
        conditions: [
          { type: 'Initialized', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
        initContainerStatuses: [
          { name: 's', ready: true, started: true, restartCount: 1, state: { running: {} } },
        ],
        containerStatuses: [
          { name: 'a', ready: true, state: { running: {} } },
          { name: 'b', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ],
      },
      {
        initContainers: [{ name: 's', restartPolicy: 'Always' }],
        containers: [{ name: 'a' }, { name: 'b' }],
      },
    );
    expect(cells(pod).slice(1, 4)).toEqual(['2/3', 'Running', '1']);
  });

  it('counts readiness gates whose condition is True', () => {
    const pod = base(
      {
        phase: 'Running',
        conditions: [
          { type: 'x', status: 'True' },
          { type: 'y', status: 'False' },
        ],
      },
      { readinessGates: [{ conditionType: 'x' }, { conditionType: 'y' }, { conditionType: 'z' }] },
    );
    expect(cells(pod)[8]).toBe('1/3');
  });
});

describe('Table negotiation and shape', () => {
  it('serves a Table when it is the first alternative the client accepts', () => {
    expect(
      requestedTable(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      ),
    ).toBe('v1');
    expect(requestedTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toBe('v1beta1');
    expect(requestedTable('application/json')).toBeUndefined();
    expect(requestedTable('application/json;as=Table;v=v2;g=meta.k8s.io,application/json')).toBeUndefined();
    expect(
      requestedTable('application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json'),
    ).toBeUndefined();
    expect(requestedTable('application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io')).toBeUndefined();
    expect(requestedTable(undefined)).toBeUndefined();
  });

  it('reads includeObject and asks upstream for full objects', () => {
    expect(includeObjectOf('/api/v1/pods')).toBe('Metadata');
    expect(includeObjectOf('/api/v1/pods?includeObject=None')).toBe('None');
    expect(includeObjectOf('/api/v1/pods?includeObject=Everything')).toBeUndefined();
    expect(withFullObjects('/api/v1/pods?limit=5&includeObject=None')).toBe(
      '/api/v1/pods?limit=5&includeObject=Object',
    );
    expect(withFullObjects('/api/v1/pods')).toBe('/api/v1/pods?includeObject=Object');
  });

  it('builds a Table with the recorded columns and the row objects asked for', () => {
    const pod = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'p', resourceVersion: '7' },
      spec: {},
      status: {},
    };
    const t = buildTable(pods, [pod], {
      version: 'v1beta1',
      include: 'Metadata',
      metadata: { resourceVersion: '9' },
    });
    expect(t.apiVersion).toBe('meta.k8s.io/v1beta1');
    expect(t.metadata).toEqual({ resourceVersion: '9' });
    expect(t.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      'IP',
      'Node',
      'Nominated Node',
      'Readiness Gates',
    ]);
    expect(t.rows[0].object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1beta1',
      metadata: pod.metadata,
    });
    expect(
      reshapeTable({ ...t, apiVersion: 'meta.k8s.io/v1', rows: [{ cells: [], object: pod }] }, 'None')
        .rows[0],
    ).toEqual({
      cells: [],
      object: null,
    });
  });

  it('prints any other kind as Name and Age, like the server does for custom resources', () => {
    const widgets = { group: 'islet.test', version: 'v1', resource: 'widgets' };
    expect(columnDefinitions(widgets).map((c) => [c.name, c.type])).toEqual([
      ['Name', 'string'],
      ['Age', 'date'],
    ]);
    expect(
      printRow(widgets, { metadata: { name: 'w', creationTimestamp: at(2 * D + 5 * H) } }, NOW).cells,
    ).toEqual(['w', '2d5h']);
  });
});
