/** The pod printer of kube-apiserver (pkg/printers/internalversion printPod), wide as the server prints. */
import { humanDuration, since } from './duration.js';
import type { Json } from './format.js';
import type { PrintedRow } from './types.js';

const SUCCEEDED = [
  { type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' },
];
const FAILED = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];
/** node.NodeUnreachablePodReason */
const NODE_LOST = 'NodeLost';

const isRestartable = (c: Json | undefined) => c?.restartPolicy === 'Always';
const finishedAt = (cs: Json): number | undefined => {
  const t = cs?.lastState?.terminated?.finishedAt;
  const ms = typeof t === 'string' ? Date.parse(t) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
};
const conditionTrue = (pod: Json, type: string) =>
  ((pod.status?.conditions ?? []) as Json[]).some((c) => c.type === type && c.status === 'True');
const firstCondition = (pod: Json, type: string): Json | undefined =>
  ((pod.status?.conditions ?? []) as Json[]).find((c) => c.type === type);

function terminatedReason(t: Json, prefix: string): string {
  if (t.reason) return `${prefix}${t.reason}`;
  return t.signal ? `${prefix}Signal:${t.signal}` : `${prefix}ExitCode:${t.exitCode ?? 0}`;
}

export function printPod(pod: Json, now: number): PrintedRow {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  let restarts = 0;
  let sidecarRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  const phase: string = status.phase ?? '';
  let reason: string = status.reason || phase;
  for (const c of (status.conditions ?? []) as Json[])
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';

  const initSpecs = new Map<string, Json>();
  for (const c of (spec.initContainers ?? []) as Json[]) {
    initSpecs.set(c.name, c);
    if (isRestartable(c)) totalContainers++;
  }

  let initializing = false;
  const initStatuses = (status.initContainerStatuses ?? []) as Json[];
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    restarts += cs.restartCount ?? 0;
    const done = finishedAt(cs);
    if (done !== undefined && lastRestart < done) lastRestart = done;
    const sidecar = isRestartable(initSpecs.get(cs.name));
    if (sidecar) {
      sidecarRestarts += cs.restartCount ?? 0;
      if (done !== undefined && lastSidecarRestart < done) lastSidecarRestart = done;
    }
    const state = cs.state ?? {};
    if (state.terminated && (state.terminated.exitCode ?? 0) === 0) continue;
    if (sidecar && cs.started === true) {
      if (cs.ready) readyContainers++;
      continue;
    }
    if (state.terminated) reason = terminatedReason(state.terminated, 'Init:');
    else if (state.waiting?.reason && state.waiting.reason !== 'PodInitializing')
      reason = `Init:${state.waiting.reason}`;
    else reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    initializing = true;
    break;
  }

  const initialized = firstCondition(pod, 'Initialized')?.status === 'True';
  if (!initializing || initialized) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = (status.containerStatuses ?? []) as Json[];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      restarts += cs.restartCount ?? 0;
      const done = finishedAt(cs);
      if (done !== undefined && lastRestart < done) lastRestart = done;
      const state = cs.state ?? {};
      if (state.waiting?.reason) reason = state.waiting.reason;
      else if (state.terminated) reason = terminatedReason(state.terminated, '');
      else if (cs.ready && state.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // Some containers completed while one still runs: the pod is still running.
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  const deleting = pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null;
  if (deleting && status.reason === NODE_LOST) reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartsCell =
    restarts !== 0 && lastRestart !== 0
      ? `${restarts} (${humanDuration(now - lastRestart)} ago)`
      : String(restarts);

  const podIP = ((status.podIPs ?? []) as Json[])[0]?.ip || '<none>';
  const gates = (spec.readinessGates ?? []) as Json[];
  let readinessGates = '<none>';
  if (gates.length > 0) {
    let trueGates = 0;
    for (const g of gates) if (firstCondition(pod, g.conditionType)?.status === 'True') trueGates++;
    readinessGates = `${trueGates}/${gates.length}`;
  }
  const row: PrintedRow = {
    cells: [
      pod.metadata?.name ?? '',
      `${readyContainers}/${totalContainers}`,
      reason,
      restartsCell,
      since(pod.metadata?.creationTimestamp, now),
      podIP,
      spec.nodeName || '<none>',
      status.nominatedNodeName || '<none>',
      readinessGates,
    ],
  };
  if (phase === 'Succeeded') row.conditions = SUCCEEDED;
  else if (phase === 'Failed') row.conditions = FAILED;
  return row;
}
