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

export function printDeployment(d: Json, now: number): PrintedRow {
  const spec = d.spec ?? {};
  const st = d.status ?? {};
  const [names, images] = containerCells(spec.template?.spec?.containers);
  return {
    cells: [
      d.metadata?.name ?? '',
      `${int(st.readyReplicas)}/${int(spec.replicas)}`,
      int(st.updatedReplicas),
      int(st.availableReplicas),
      since(d.metadata?.creationTimestamp, now),
      names,
      images,
      selectorString(spec.selector) ?? '<invalid>',
    ],
  };
}

export function printReplicaSet(rs: Json, now: number): PrintedRow {
  const spec = rs.spec ?? {};
  const st = rs.status ?? {};
  const [names, images] = containerCells(spec.template?.spec?.containers);
  return {
    cells: [
      rs.metadata?.name ?? '',
      int(spec.replicas),
      int(st.replicas),
      int(st.readyReplicas),
      since(rs.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(spec.selector),
    ],
  };
}

export function printDaemonSet(ds: Json, now: number): PrintedRow {
  const spec = ds.spec ?? {};
  const st = ds.status ?? {};
  const [names, images] = containerCells(spec.template?.spec?.containers);
  return {
    cells: [
      ds.metadata?.name ?? '',
      int(st.desiredNumberScheduled),
      int(st.currentNumberScheduled),
      int(st.numberReady),
      int(st.updatedNumberScheduled),
      int(st.numberAvailable),
      formatLabels(spec.template?.spec?.nodeSelector),
      since(ds.metadata?.creationTimestamp, now),
      names,
      images,
      formatLabelSelector(spec.selector),
    ],
  };
}
