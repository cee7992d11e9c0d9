import type { CniLab, Pod } from './lab.js';

/**
 * Read-only views of islet's database for assertions, following the schema in
 * docs/readme/cni-plugin.md, "Database" (tables snapshots, attachments, chain_results).
 */
export interface SnapshotRow {
  network: string;
  pod_namespace: string;
  pod_name: string;
  ifname: string;
  pod_uid: string;
  ips: string[];
  state: 'live' | 'held' | 'stale';
  stale_reason: string | null;
  container_id: string;
  boot_id: string;
}

export interface AttachmentRow {
  network: string;
  container_id: string;
  ifname: string;
  pod_namespace: string;
  pod_name: string;
  pod_uid: string;
  state: 'pending' | 'active' | 'replayed' | 'held' | 'deleting';
  ips: string[];
  boot_id: string;
}

export interface ChainResultRow {
  network: string;
  container_id: string;
  ifname: string;
  cni_version: string;
  result: Record<string, unknown>;
}

function query<T>(lab: CniLab, sql: string, ...params: unknown[]): T[] {
  const db = lab.db();
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function parseIps<T extends { ips: unknown }>(row: T): T & { ips: string[] } {
  const ips = typeof row.ips === 'string' ? (JSON.parse(row.ips) as string[]) : [];
  return { ...row, ips };
}

export function snapshots(lab: CniLab, network?: string): SnapshotRow[] {
  const rows = network
    ? query<SnapshotRow>(lab, 'SELECT * FROM snapshots WHERE network = ?', network)
    : query<SnapshotRow>(lab, 'SELECT * FROM snapshots');
  return rows.map(parseIps);
}

export function snapshotOf(lab: CniLab, network: string, pod: Pod, ifname = 'eth0'): SnapshotRow | undefined {
  return query<SnapshotRow>(
    lab,
    'SELECT * FROM snapshots WHERE network = ? AND pod_namespace = ? AND pod_name = ? AND ifname = ?',
    network,
    pod.namespace,
    pod.name,
    ifname,
  ).map(parseIps)[0];
}

export function attachments(lab: CniLab, network?: string): AttachmentRow[] {
  const rows = network
    ? query<AttachmentRow>(lab, 'SELECT * FROM attachments WHERE network = ?', network)
    : query<AttachmentRow>(lab, 'SELECT * FROM attachments');
  return rows.map(parseIps);
}

export function attachmentOf(
  lab: CniLab,
  network: string,
  containerId: string,
  ifname = 'eth0',
): AttachmentRow | undefined {
  return query<AttachmentRow>(
    lab,
    'SELECT * FROM attachments WHERE network = ? AND container_id = ? AND ifname = ?',
    network,
    containerId,
    ifname,
  ).map(parseIps)[0];
}

export function chainResults(lab: CniLab, network: string): ChainResultRow[] {
  return query<Omit<ChainResultRow, 'result'> & { result: string }>(
    lab,
    'SELECT network, container_id, ifname, cni_version, result FROM chain_results WHERE network = ?',
    network,
  ).map((r) => ({ ...r, result: JSON.parse(r.result) as Record<string, unknown> }));
}

/** "10.1.2.3/24" → "10.1.2.3" */
export function bare(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

/** Recorded snapshots islet gave up on (their IP was found held by another container). */
export interface StaleSnapshotRow {
  network: string;
  pod_namespace: string;
  pod_name: string;
  ifname: string;
  ips: string[];
  reason: string;
  container_id: string;
}

export function staleSnapshotsOf(
  lab: CniLab,
  network: string,
  pod: Pod,
  ifname = 'eth0',
): StaleSnapshotRow[] {
  return query<StaleSnapshotRow>(
    lab,
    'SELECT * FROM stale_snapshots WHERE network = ? AND pod_namespace = ? AND pod_name = ? AND ifname = ? ORDER BY id',
    network,
    pod.namespace,
    pod.name,
    ifname,
  ).map(parseIps);
}
