/**
 * Facts about this machine and its processes that tell a dead attachment from a live one: the boot
 * id (attachments from an earlier boot are provably dead) and a process's start time (a pid can be
 * reused; pid + start time cannot).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** ISLET_BOOT_ID overrides the kernel's value (tests simulate reboots; containers may hide /proc). */
export function currentBootId(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.ISLET_BOOT_ID;
  if (override) return override;
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19];
}

export interface ProcessRef {
  boot_id: string;
  pid: number;
  proc_start: string;
}

export function isProcessAlive(ref: ProcessRef, bootId: string): boolean {
  return ref.boot_id === bootId && processStartTime(ref.pid) === ref.proc_start;
}

/** When this boot started, in ms since the epoch. */
export function bootStartMs(now: number): number {
  return now - uptimeSeconds() * 1000;
}

/**
 * Seconds since boot: the first field of /proc/uptime, which os.uptime() reads too; node:os is
 * loaded only when that file cannot be read (loading it costs every CNI call ~0.2 ms).
 */
function uptimeSeconds(): number {
  try {
    const seconds = Number.parseFloat(readFileSync('/proc/uptime', 'utf8'));
    if (Number.isFinite(seconds)) return seconds;
  } catch {
    // no /proc: ask libuv
  }
  return process.getBuiltinModule('node:os').uptime();
}

export function netnsExists(path: string): boolean {
  return path !== '' && existsSync(path);
}

/**
 * Delegates an ADD left running when it died (kill -9 of islet does not reach its children):
 * processes whose environment says they are CNI_COMMAND=ADD for this container interface. Without
 * waiting for them, an orphan could reserve an address right after the repair released it.
 */
export function findOrphanDelegates(containerId: string, ifname: string, exceptPid: number): number[] {
  const wanted = [`CNI_CONTAINERID=${containerId}`, `CNI_IFNAME=${ifname}`, 'CNI_COMMAND=ADD'];
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === exceptPid || pid === process.pid) continue;
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (wanted.every((w) => environ.includes(w))) found.push(pid);
  }
  return found;
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lets orphaned delegates finish (a SIGKILL mid-write could leave host-local an empty reservation
 * file no DEL matches), killing those still running after `graceMs`.
 */
export async function settleOrphanDelegates(
  containerId: string,
  ifname: string,
  graceMs: number,
): Promise<void> {
  let pids = findOrphanDelegates(containerId, ifname, process.pid);
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    pids = pids.filter(exists);
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
