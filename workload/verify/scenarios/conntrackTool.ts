// The flush's two uses of this machine's conntrack tool, run without a shell: delete the entries
// whose original source is in one of the lab's client subnets, or count them. Never a whole-table
// flush (`conntrack -F`): the table is the host's, and holds the user's own connections too.
import { boundedRun } from "../boundedRun.js";

export interface EntriesResult {
  /** Entries deleted (or shown), summed over the subnets; null when the tool failed. */
  entries: number | null;
  error: string | null;
}

/** The lab's entries: "delete" them or "count" them. */
export type LabEntries = (op: "delete" | "count") => Promise<EntriesResult>;

/** conntrack's summary line on stderr: "conntrack v1.4.7 (conntrack-tools): 602 flow entries have been deleted." */
export function parseEntryCount(stderr: string): number | null {
  const m = /(\d+) flow entries have been (?:deleted|shown)/.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** Runs `conntrack -D|-L -s <subnet>` per subnet (argv, no shell). */
export function conntrackEntries(sources: string[], binary = "conntrack", timeoutMs = 120_000): LabEntries {
  return async (op) => {
    let total = 0;
    for (const subnet of sources) {
      const r = await runOne(binary, [op === "delete" ? "-D" : "-L", "-s", subnet], timeoutMs);
      if (r.error !== null)
        return { entries: null, error: `conntrack ${op === "delete" ? "-D" : "-L"} -s ${subnet}: ${r.error}` };
      total += r.entries;
    }
    return { entries: total, error: null };
  };
}

async function runOne(binary: string, args: string[], timeoutMs: number): Promise<{ entries: number; error: string | null }> {
  // A listing of a million entries is ~150 MB: it is discarded, the count comes from stderr.
  const r = await boundedRun(binary, args, { timeoutMs, tailChars: 4000 });
  if (r.spawnError)
    return {
      entries: 0,
      error:
        r.spawnError.code === "ENOENT" ? "no conntrack tool on this machine (apt-get install conntrack)" : r.spawnError.message,
    };
  const n = parseEntryCount(r.stderr);
  // conntrack exits 1 when nothing matched ("0 flow entries have been deleted.").
  if (n !== null && (r.code === 0 || r.code === 1)) return { entries: n, error: null };
  const tail = r.stderr.trim().split("\n").slice(-2).join(" / ");
  return { entries: 0, error: `exit ${r.code ?? r.signal}${tail ? `: ${tail}` : ""}` };
}
