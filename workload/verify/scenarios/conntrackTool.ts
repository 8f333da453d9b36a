// The flush's two uses of this machine's conntrack tool, run without a shell: delete the entries
// whose original source is in one of the lab's client subnets, or count them. Never a whole-table
// flush (`conntrack -F`): the table is the host's, and holds the user's own connections too.
import { spawn } from "node:child_process";

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

function runOne(binary: string, args: string[], timeoutMs: number): Promise<{ entries: number; error: string | null }> {
  return new Promise((resolve) => {
    // A listing of a million entries is ~150 MB: it is discarded, the count comes from stderr.
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"], timeout: timeoutMs });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on("error", (err: NodeJS.ErrnoException) =>
      resolve({
        entries: 0,
        error: err.code === "ENOENT" ? "no conntrack tool on this machine (apt-get install conntrack)" : err.message,
      }),
    );
    child.on("close", (code, signal) => {
      const n = parseEntryCount(stderr);
      // conntrack exits 1 when nothing matched ("0 flow entries have been deleted.").
      if (n !== null && (code === 0 || code === 1)) return resolve({ entries: n, error: null });
      const tail = stderr.trim().split("\n").slice(-2).join(" / ");
      resolve({ entries: 0, error: `exit ${code ?? signal}${tail ? `: ${tail}` : ""}` });
    });
  });
}
