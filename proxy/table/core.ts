/** kube-apiserver's printers for nodes, services, config maps, secrets, namespaces and events. */
import { since } from './duration.js';
import { formatLabels, int, type Json } from './format.js';
import type { PrintedRow } from './types.js';

const ROLE_PREFIX = 'node-role.kubernetes.io/';

export function printNode(node: Json, now: number): PrintedRow {
  const st = node.status ?? {};
  const status: string[] = [];
  const ready = ((st.conditions ?? []) as Json[]).filter((c) => c.type === 'Ready').pop();
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  if (status.length === 0) status.push('Unknown');
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  const roles = new Set<string>();
  for (const [k, v] of Object.entries((node.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k.startsWith(ROLE_PREFIX) && k.length > ROLE_PREFIX.length) roles.add(k.slice(ROLE_PREFIX.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  const address = (type: string) =>
    ((st.addresses ?? []) as Json[]).find((a) => a.type === type)?.address ?? '<none>';
  const info = st.nodeInfo ?? {};
  return {
    cells: [
      node.metadata?.name ?? '',
      status.join(','),
      [...roles].sort().join(',') || '<none>',
      since(node.metadata?.creationTimestamp, now),
      info.kubeletVersion ?? '',
      address('InternalIP'),
      address('ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ],
  };
}

/** loadBalancerStatusStringer, wide: the ingress IPs or hostnames, sorted and deduplicated. */
function loadBalancerIngress(svc: Json): string {
  const out = new Set<string>();
  for (const i of (svc.status?.loadBalancer?.ingress ?? []) as Json[]) {
    if (i.ip) out.add(i.ip);
    else if (i.hostname) out.add(i.hostname);
  }
  return [...out].sort().join(',');
}

function externalIP(svc: Json): string {
  const spec = svc.spec ?? {};
  const ips = (spec.externalIPs ?? []) as string[];
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return ips.length > 0 ? ips.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerIngress(svc);
      if (ips.length > 0) return [...(lb ? lb.split(',') : []), ...ips].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

export function printService(svc: Json, now: number): PrintedRow {
  const spec = svc.spec ?? {};
  const ports = ((spec.ports ?? []) as Json[])
    .map((p) => (p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`))
    .join(',');
  return {
    cells: [
      svc.metadata?.name ?? '',
      spec.type ?? '',
      spec.clusterIP || '<none>',
      externalIP(svc),
      ports || '<none>',
      since(svc.metadata?.creationTimestamp, now),
      formatLabels(spec.selector),
    ],
  };
}

export function printConfigMap(cm: Json, now: number): PrintedRow {
  const count = Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length;
  return { cells: [cm.metadata?.name ?? '', count, since(cm.metadata?.creationTimestamp, now)] };
}

export function printSecret(secret: Json, now: number): PrintedRow {
  return {
    cells: [
      secret.metadata?.name ?? '',
      secret.type ?? '',
      Object.keys(secret.data ?? {}).length,
      since(secret.metadata?.creationTimestamp, now),
    ],
  };
}

export function printNamespace(ns: Json, now: number): PrintedRow {
  return {
    cells: [ns.metadata?.name ?? '', ns.status?.phase ?? '', since(ns.metadata?.creationTimestamp, now)],
  };
}

/**
 * The event printer reads the internal Event: core/v1 fields as they are, events.k8s.io/v1 ones
 * mapped back (regarding → involvedObject, note → message, deprecated* → the legacy fields).
 */
function asCoreEvent(ev: Json): Json {
  if (!String(ev.apiVersion ?? '').startsWith('events.k8s.io/')) return ev;
  return {
    metadata: ev.metadata,
    involvedObject: ev.regarding ?? {},
    reason: ev.reason,
    message: ev.note,
    type: ev.type,
    source: ev.deprecatedSource ?? {},
    firstTimestamp: ev.deprecatedFirstTimestamp,
    lastTimestamp: ev.deprecatedLastTimestamp,
    count: ev.deprecatedCount,
    eventTime: ev.eventTime,
    series: ev.series ? { count: ev.series.count, lastObservedTime: ev.series.lastObservedTime } : undefined,
    reportingComponent: ev.reportingController,
    reportingInstance: ev.reportingInstance,
  };
}

export function printEvent(raw: Json, now: number): PrintedRow {
  const ev = asCoreEvent(raw);
  const first = ev.firstTimestamp ? since(ev.firstTimestamp, now) : since(ev.eventTime, now);
  let last = ev.lastTimestamp ? since(ev.lastTimestamp, now) : first;
  let count = int(ev.count);
  if (ev.series) {
    last = since(ev.series.lastObservedTime, now);
    count = int(ev.series.count);
  } else if (count === 0) count = 1; // singleton events of the new API carry no count
  const obj = ev.involvedObject ?? {};
  const kind = String(obj.kind ?? '').toLowerCase();
  const target = obj.name ? `${kind}/${obj.name}` : kind;
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return {
    cells: [
      last,
      ev.type ?? '',
      ev.reason ?? '',
      target,
      obj.fieldPath ?? '',
      instance ? `${component}, ${instance}` : component,
      String(ev.message ?? '').trim(),
      first,
      count,
      ev.metadata?.name ?? '',
    ],
  };
}
