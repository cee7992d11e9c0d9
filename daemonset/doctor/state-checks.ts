/**
 * Checks of the running state: the plugin's snapshot database, the proxy's admin endpoint, the
 * link-state file, and what the proxy's cache holds per resource.
 */
import { openDatabase } from '../../lib/sqlite.js';
import type { HostRoot } from '../installer/host-fs.js';
import type { Finding } from './report.js';

/** The plugin's link-state file is judged stale by the plugin after this long (lib/link-state.ts). */
export const LINK_STATE_MAX_AGE_MS = 60_000;

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * integrity_check plus row counts per table, and per `state` where a table has one. Read
 * generically so doctor keeps working as the plugin's schema grows.
 */
export function checkSnapshotDb(host: HostRoot, dbPath: string): Finding {
  if (!host.stat(dbPath)) {
    return {
      id: 'snapshot-db',
      status: 'warn',
      summary: `${dbPath} does not exist yet`,
      hint: 'the plugin creates it at the first pod ADD; until then no pod has an IP to get back',
    };
  }
  let db: ReturnType<typeof openDatabase> | undefined;
  try {
    db = openDatabase(host.at(dbPath), { readonly: true, busyTimeoutMs: 2000 });
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map(
      (r) => r.integrity_check,
    );
    const tables = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    const counts: Record<string, { rows: number; byState?: Record<string, number> }> = {};
    for (const t of tables) {
      const rows = (db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).get() as { n: number }).n;
      const columns = (db.pragma(`table_info(${quoteIdent(t)})`) as { name: string }[]).map((c) => c.name);
      counts[t] = { rows };
      if (columns.includes('state')) {
        const byState: Record<string, number> = {};
        for (const r of db
          .prepare(`SELECT state, count(*) AS n FROM ${quoteIdent(t)} GROUP BY state`)
          .all() as {
          state: string;
          n: number;
        }[]) {
          byState[String(r.state)] = r.n;
        }
        counts[t].byState = byState;
      }
    }
    const describe = Object.entries(counts)
      .map(([t, c]) =>
        c.byState && c.rows > 0
          ? `${t} ${c.rows} (${Object.entries(c.byState)
              .map(([s, n]) => `${s} ${n}`)
              .join(', ')})`
          : `${t} ${c.rows}`,
      )
      .join('; ');
    if (integrity.length !== 1 || integrity[0] !== 'ok') {
      return {
        id: 'snapshot-db',
        status: 'fail',
        summary: `${dbPath} is damaged: ${integrity.slice(0, 3).join('; ')}`,
        hint: 'pods cannot get their IPs back; move the file aside (the plugin starts a new one)',
        data: { integrity, tables: counts },
      };
    }
    return {
      id: 'snapshot-db',
      status: 'ok',
      summary: `${dbPath} ok: ${describe}`,
      data: { tables: counts },
    };
  } catch (err) {
    return {
      id: 'snapshot-db',
      status: 'fail',
      summary: `${dbPath} cannot be read: ${(err as Error).message}`,
      hint: 'the plugin fails every ADD with code 5 while its database is unreadable',
    };
  } finally {
    db?.close();
  }
}

export function checkLinkState(host: HostRoot, path: string, now = Date.now()): Finding {
  const raw = host.read(path);
  if (!raw) {
    return {
      id: 'link-state',
      status: 'fail',
      summary: `${path} is missing`,
      hint: 'the proxy writes it; without it the plugin cannot tell offline from a broken IPAM',
    };
  }
  let parsed: { state?: unknown; since?: unknown; checkedAt?: unknown; upstream?: unknown };
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { id: 'link-state', status: 'fail', summary: `${path} is not valid JSON` };
  }
  const checked = typeof parsed.checkedAt === 'string' ? Date.parse(parsed.checkedAt) : Number.NaN;
  const data = {
    ...parsed,
    ageSeconds: Number.isFinite(checked) ? Math.round((now - checked) / 1000) : null,
  };
  if (parsed.state !== 'online' && parsed.state !== 'offline') {
    return { id: 'link-state', status: 'fail', summary: `${path} has no valid state`, data };
  }
  if (!Number.isFinite(checked) || Math.abs(now - checked) > LINK_STATE_MAX_AGE_MS) {
    return {
      id: 'link-state',
      status: 'fail',
      summary: `${path} is stale (last confirmed ${String(parsed.checkedAt)})`,
      hint: 'the proxy is not running or cannot write it; the plugin treats the link as unknown',
      data,
    };
  }
  if (parsed.state === 'offline') {
    return {
      id: 'link-state',
      status: 'warn',
      summary: `offline since ${String(parsed.since)} (last upstream ${String(parsed.upstream)})`,
      hint: 'the node runs from its cache and snapshots until the link returns',
      data,
    };
  }
  return { id: 'link-state', status: 'ok', summary: `online via ${String(parsed.upstream)}`, data };
}

async function fetchText(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** Prometheus text → samples of the named metrics, keyed by their `resource` label. */
function samplesByResource(metrics: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^${name}\\{([^}]*)\\}\\s+(\\S+)`, 'gm');
  for (const m of metrics.matchAll(re)) {
    const resource = /(?:^|,)resource="((?:[^"\\]|\\.)*)"/.exec(m[1]!)?.[1];
    if (resource !== undefined) out.set(resource, (out.get(resource) ?? 0) + Number(m[2]));
  }
  return out;
}

/** /healthz of the proxy's admin listener, then per-resource cache contents from /metrics. */
export async function checkProxy(adminUrl: string, linkOnline: boolean | undefined): Promise<Finding[]> {
  const base = adminUrl.replace(/\/+$/, '');
  try {
    const health = await fetchText(`${base}/healthz`, 2000);
    if (health.status !== 200) {
      return [
        {
          id: 'proxy',
          status: 'fail',
          summary: `${base}/healthz answered ${health.status}`,
          hint: 'kubelet and the other clients have no cache behind them',
        },
      ];
    }
  } catch (err) {
    return [
      {
        id: 'proxy',
        status: 'fail',
        summary: `proxy admin ${base} not reachable (${(err as Error).cause ?? (err as Error).message})`,
        hint: 'is the islet-proxy static pod running? (crictl ps --name proxy)',
      },
    ];
  }
  const findings: Finding[] = [{ id: 'proxy', status: 'ok', summary: `proxy healthy (${base}/healthz)` }];
  let metrics: string;
  try {
    const res = await fetchText(`${base}/metrics`, 2000);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    metrics = res.body;
  } catch (err) {
    findings.push({
      id: 'cache',
      status: 'warn',
      summary: `${base}/metrics unreadable: ${(err as Error).message}`,
    });
    return findings;
  }
  const objects = samplesByResource(metrics, 'islet_cache_objects');
  const watched = samplesByResource(metrics, 'islet_watch_upstream_open');
  const resources: Record<string, { objects: number; liveWatch: boolean }> = {};
  for (const r of new Set([...objects.keys(), ...watched.keys()])) {
    resources[r] = { objects: objects.get(r) ?? 0, liveWatch: (watched.get(r) ?? 0) > 0 };
  }
  const names = Object.keys(resources).sort();
  if (names.length === 0) {
    findings.push({
      id: 'cache',
      status: 'warn',
      summary: 'the cache holds nothing yet',
      hint: 'clients fill it as they read through the proxy; an offline reboot now would find nothing',
      data: { resources },
    });
    return findings;
  }
  const describe = names
    .map((r) => `${r} ${resources[r]!.objects}${resources[r]!.liveWatch ? ' (live)' : ' (as of last read)'}`)
    .join(', ');
  findings.push({
    id: 'cache',
    status: linkOnline === false ? 'warn' : 'ok',
    summary: `cached: ${describe}`,
    hint: 'offline: the cache is as fresh as the moment the link dropped',
    data: { resources },
  });
  return findings;
}
