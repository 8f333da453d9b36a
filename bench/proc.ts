// Readings from /proc for the bench scripts.
import { readFileSync } from "node:fs";

/** A process's resident set (VmRSS), KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}
