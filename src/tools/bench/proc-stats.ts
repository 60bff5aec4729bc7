import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** A process's memory and CPU time as the kernel reports them (Linux /proc). */
export interface ProcessSample {
  readonly rssBytes: number;
  /** Peak resident set since the process started (VmHWM). */
  readonly peakRssBytes: number;
  /** User + system CPU time so far, all threads. */
  readonly cpuMs: number;
}

let ticksPerS: number | undefined;

/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every mainstream Linux, asked once to be sure. */
function clockTicksPerS(): number {
  if (ticksPerS === undefined) {
    try {
      ticksPerS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerS = 100;
    }
  }
  return ticksPerS;
}

function kib(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * Reads /proc/<pid>/status and /proc/<pid>/stat; undefined where there is no
 * /proc (not Linux) or the process is gone. The bench then reports memory
 * and CPU as not measured rather than guessing.
 */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rss = kib(status, "VmRSS");
    const peak = kib(status, "VmHWM");
    if (rss === undefined || peak === undefined || !Number.isFinite(ticks)) return undefined;
    return { rssBytes: rss, peakRssBytes: peak, cpuMs: (ticks * 1000) / clockTicksPerS() };
  } catch {
    return undefined;
  }
}

/** CPU use between two samples as a share of one core (1 = one core busy all the time). */
export function coresUsed(before: ProcessSample, after: ProcessSample, elapsedMs: number): number {
  return elapsedMs > 0 ? (after.cpuMs - before.cpuMs) / elapsedMs : 0;
}
