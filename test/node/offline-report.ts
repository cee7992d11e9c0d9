/**
 * The offline scenario's results for people: both runs side by side, the figures (time to pods
 * back on their old IPs, proxy RSS) and what the node cost the API server after the restore.
 */
import { expected, PODS, type ScenarioResult } from './offline-scenario.js';

const ms = (v: number | undefined, waited?: number) =>
  v === undefined
    ? waited
      ? `never (waited ${(waited / 1000).toFixed(0)} s)`
      : 'never'
    : `${(v / 1000).toFixed(1)} s`;
const yes = (v: boolean | undefined) => (v === undefined ? '-' : v ? 'yes' : 'no');
const text = (v: string | undefined) => (v === undefined ? '(no answer)' : JSON.stringify(v.trim()));

/** Requests by "VERB resource", LISTs first. */
export function requestLines(requests: Map<string, number>): string[] {
  return [...requests]
    .sort(([a], [b]) =>
      a.startsWith('LIST') === b.startsWith('LIST') ? a.localeCompare(b) : a.startsWith('LIST') ? -1 : 1,
    )
    .map(([k, v]) => `${k} ${v}`);
}

export function listCount(requests: Map<string, number>): number {
  let n = 0;
  for (const [k, v] of requests) if (k.startsWith('LIST ')) n += v;
  return n;
}

export function sideBySide(runs: ScenarioResult[]): string {
  const rows: [string, ...string[]][] = [];
  const add = (what: string, f: (r: ScenarioResult) => string) => rows.push([what, ...runs.map(f)]);
  add('pods before the cut', (r) => PODS.map((p) => `${p.name}=${r.before[p.name].ip}`).join(' '));
  add('ClusterIP answered before the cut', (r) => `${r.clusterIp}: ${text(r.reachableBefore)}`);
  add('offline for', (r) => ms(r.cut.ms));
  add('API: node Unknown / lease expired', (r) => `${yes(r.cut.nodeUnknown)} / ${yes(r.cut.leaseExpired)}`);
  add('lease renewed locally while offline', (r) => yes(r.cut.localLeaseRenewed));
  add('reboot (all started, offline)', (r) => ms(r.reboot.bootMs));
  add('pods Running on old IPs, offline', (r) => ms(r.reboot.podsBackMs, r.reboot.waitedMs));
  add('IPs after the offline reboot', (r) =>
    PODS.map((p) => `${p.name}=${r.reboot.ips[p.name] ?? '-'}`).join(' '),
  );
  add('ConfigMap seen offline', (r) => text(r.reboot.config));
  add('Secret seen offline', (r) => text(r.reboot.secret));
  add('ClusterIP answered offline', (r) => `${ms(r.reboot.serviceBackMs)} ${text(r.reboot.serviceAnswer)}`);
  add('API after restore: Running, same pods', (r) => ms(r.restore.ms));
  add('API after restore: podIPs', (r) =>
    PODS.map((p) => `${p.name}=${r.restore.pods[p.name].ip || '-'}`).join(' '),
  );
  add('same UIDs', (r) => yes(PODS.every((p) => r.restore.pods[p.name].uid === r.before[p.name].uid)));
  add('same podIPs', (r) => yes(PODS.every((p) => r.restore.pods[p.name].ip === r.before[p.name].ip)));
  add('node Ready after restore', (r) => yes(r.restore.nodeReady));
  add('API LISTs after restore', (r) => String(listCount(r.restore.requests)));
  add('proxy RSS max / last', (r) =>
    r.proxyRssKb
      ? `${(r.proxyRssKb.max / 1024).toFixed(1)} / ${(r.proxyRssKb.last / 1024).toFixed(1)} MiB`
      : '-',
  );
  const header: [string, ...string[]] = ['', ...runs.map((r) => r.label)];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export function fullReport(runs: ScenarioResult[]): string {
  const out = [sideBySide(runs), ''];
  for (const r of runs) {
    out.push(`requests to the API server after the restore (${r.label}), by verb and resource:`);
    out.push(...requestLines(r.restore.requests).map((l) => `  ${l}`));
    if (r.islet) {
      out.push(`islet proxy answers during the offline boot (verb resource code served_from):`);
      out.push(...[...r.reboot.proxyAnswers].sort().map(([k, v]) => `  ${k} x${v}`));
    }
    for (const n of r.notes) out.push(`note (${r.label}): ${n}`);
    out.push('');
  }
  return out.join('\n');
}

/** What the islet run failed to keep (empty: everything held). */
export function isletShortfalls(r: ScenarioResult): string[] {
  const bad: string[] = [];
  if (r.reboot.podsBackMs === undefined) bad.push('pods did not run again on their old IPs offline');
  if (r.reboot.config?.trim() !== expected.greeting) bad.push('ConfigMap not seen offline');
  if (r.reboot.secret?.trim() !== expected.secret) bad.push('Secret not seen offline');
  if (r.reboot.serviceAnswer === undefined) bad.push('ClusterIP did not answer offline');
  if (r.restore.ms === undefined) bad.push('API server did not show the pods Running after the restore');
  for (const p of PODS) {
    if (r.restore.pods[p.name].uid !== r.before[p.name].uid) bad.push(`${p.name}: another UID`);
    if (r.restore.pods[p.name].ip !== r.before[p.name].ip) bad.push(`${p.name}: another podIP`);
  }
  if (listCount(r.restore.requests) !== 0)
    bad.push(`${listCount(r.restore.requests)} LISTs after the restore`);
  return bad;
}
