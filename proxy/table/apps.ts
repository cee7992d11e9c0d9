/** kube-apiserver's printers for deployments, replica sets and daemon sets (wide). */
import { since } from './duration.js';
import {
  containerCells,
  formatLabelSelector,
  formatLabels,
  int,
  type Json,
  selectorString,
} from './format.js';
import type { PrintedRow } from './types.js';

/**
 * The row every workload printer prints: its name, the counts `cells` picks from spec and status,
 * its age, its pod template's containers and images, and its selector.
 */
function workloadRow(
  w: Json,
  now: number,
  cells: (spec: Json, status: Json) => (string | number)[],
  selector: (sel: Json) => string,
): PrintedRow {
  const spec = w.spec ?? {};
  const [names, images] = containerCells(spec.template?.spec?.containers);
  return {
    cells: [
      w.metadata?.name ?? '',
      ...cells(spec, w.status ?? {}),
      since(w.metadata?.creationTimestamp, now),
      names,
      images,
      selector(spec.selector),
    ],
  };
}

export function printDeployment(d: Json, now: number): PrintedRow {
  return workloadRow(
    d,
    now,
    (spec, st) => [
      `${int(st.readyReplicas)}/${int(spec.replicas)}`,
      int(st.updatedReplicas),
      int(st.availableReplicas),
    ],
    (sel) => selectorString(sel) ?? '<invalid>',
  );
}

export function printReplicaSet(rs: Json, now: number): PrintedRow {
  return workloadRow(
    rs,
    now,
    (spec, st) => [int(spec.replicas), int(st.replicas), int(st.readyReplicas)],
    formatLabelSelector,
  );
}

export function printDaemonSet(ds: Json, now: number): PrintedRow {
  return workloadRow(
    ds,
    now,
    (spec, st) => [
      int(st.desiredNumberScheduled),
      int(st.currentNumberScheduled),
      int(st.numberReady),
      int(st.updatedNumberScheduled),
      int(st.numberAvailable),
      // NODE SELECTOR comes before AGE in the daemon set's columns.
      formatLabels(spec.template?.spec?.nodeSelector),
    ],
    formatLabelSelector,
  );
}
