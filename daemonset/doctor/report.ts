/**
 * Doctor findings and how they are shown. `fail` means node autonomy is broken or at risk and
 * makes the exit code 1; `warn` is worth knowing but does not stop the node from coping offline;
 * `info` is a fact about the node's setup that is neither good nor bad (e.g. whether the optional
 * chained recorder is there).
 */
export type Status = 'ok' | 'info' | 'warn' | 'fail';

export interface Finding {
  id: string;
  status: Status;
  /** One line: what was found. */
  summary: string;
  /** Why it matters / what to do, for warn and fail. */
  hint?: string;
  /** Structured facts for --json (counts, paths, states). */
  data?: Record<string, unknown>;
}

export interface Report {
  healthy: boolean;
  root: string;
  checkedAt: string;
  findings: Finding[];
}

export function makeReport(root: string, findings: Finding[]): Report {
  return {
    healthy: findings.every((f) => f.status !== 'fail'),
    root,
    checkedAt: new Date().toISOString(),
    findings,
  };
}

const MARK: Record<Status, string> = { ok: 'ok  ', info: 'info', warn: 'WARN', fail: 'FAIL' };

export function renderText(report: Report): string {
  const lines = report.findings.map((f) => {
    let line = `[${MARK[f.status]}] ${f.id}: ${f.summary}`;
    if (f.hint && (f.status === 'warn' || f.status === 'fail')) line += `\n       ${f.hint}`;
    return line;
  });
  const fails = report.findings.filter((f) => f.status === 'fail').length;
  const warns = report.findings.filter((f) => f.status === 'warn').length;
  lines.push(
    report.healthy
      ? `node autonomy: ready${warns ? ` (${warns} warning${warns > 1 ? 's' : ''})` : ''}`
      : `node autonomy: NOT ready (${fails} problem${fails > 1 ? 's' : ''}, ${warns} warning${warns === 1 ? '' : 's'})`,
  );
  return `${lines.join('\n')}\n`;
}
