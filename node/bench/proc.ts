import { readdir, readFile } from 'node:fs/promises';

/** Linux reports CPU times in clock ticks of 1/100 s (USER_HZ, fixed at 100 on every Linux ABI). */
const TICKS_PER_SECOND = 100;

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime of the process itself. */
  readonly cpuSeconds: number;
  /** cutime + cstime: children it has waited for (PostgreSQL backends that exited). */
  readonly childrenCpuSeconds: number;
}

/** Fields of /proc/<pid>/stat after the command name, which may itself contain spaces and parentheses. */
export function parseProcStat(pid: number, text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close === -1) return null;
  // Index 0 here is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  const n = (i: number): number => Number(f[i]);
  const [ppid, utime, stime, cutime, cstime] = [n(1), n(11), n(12), n(13), n(14)];
  if (![ppid, utime, stime, cutime, cstime].every(Number.isFinite)) return null;
  return {
    pid,
    ppid,
    cpuSeconds: (utime + stime) / TICKS_PER_SECOND,
    childrenCpuSeconds: (cutime + cstime) / TICKS_PER_SECOND,
  };
}

export async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) of a process in bytes, from /proc/<pid>/status; null if unreadable. */
export async function peakRssBytes(pid: number): Promise<number | null> {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/**
 * CPU seconds of a process and all its children, living and reaped: for PostgreSQL, the
 * postmaster plus its backends (one per connection) and helpers. A difference of two readings
 * is the tree's CPU over that interval, as long as no child was reaped by someone else.
 */
export async function treeCpuSeconds(rootPid: number): Promise<number | null> {
  const root = await procStat(rootPid);
  if (root === null) return null;
  let total = root.cpuSeconds + root.childrenCpuSeconds;
  let entries: string[] = [];
  try {
    entries = await readdir('/proc');
  } catch {
    return total;
  }
  const stats = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => procStat(Number(e))));
  for (const s of stats) if (s !== null && s.ppid === rootPid) total += s.cpuSeconds;
  return total;
}

/** The postmaster's pid from PostgreSQL's postmaster.pid (its first line); null if absent. */
export async function postmasterPid(dataDir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(`${dataDir}/postmaster.pid`, 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Machine-wide CPU time from the first line of /proc/stat, in seconds: busy (everything but idle and iowait) and total. */
export function parseSystemCpu(text: string): { busy: number; total: number } | null {
  const line = text.split('\n')[0] ?? '';
  if (!line.startsWith('cpu ')) return null;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user/nice]
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks.map((t) =>
    Number.isFinite(t) ? t : 0,
  );
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy: busy / TICKS_PER_SECOND, total: (busy + (idle ?? 0) + (iowait ?? 0)) / TICKS_PER_SECOND };
}

export async function systemCpu(): Promise<{ busy: number; total: number } | null> {
  try {
    return parseSystemCpu(await readFile('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}
