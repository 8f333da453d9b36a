// Criteria judged on top of the connection count (pure): the hold's round trips against
// test.maxRttMs. A breach turns a pass (or an expected plateau) into a fail with its own sentence;
// on a run that failed already it is one more warning.
import type { Diagnosis } from "./diagnose.js";
import { rttBreach, rttWarnings, summarizeRtt } from "./rtt.js";
import type { Run } from "./types.js";

export interface HoldCheckOptions {
  /** Bound on the p99 round trip in ms (test.maxRttMs); null = report the round trips only. */
  maxRttMs: number | null;
}

/** The diagnosis with the round trips of the run's last client view and their verdict. */
export function withHoldChecks(d: Diagnosis, run: Run, opts: HoldCheckOptions): Diagnosis {
  const clients = [...run.observations].reverse().find((o) => o.clients !== null)?.clients ?? null;
  const rtt = summarizeRtt(clients, opts.maxRttMs);
  const warnings = [...d.warnings, ...rttWarnings(rtt)];
  const breach = rttBreach(rtt, opts.maxRttMs);
  if (breach === null) return { ...d, rtt, warnings };
  if (d.verdict === "fail") return { ...d, rtt, warnings: [...warnings, breach] };
  return { ...d, rtt, verdict: "fail", limit: "rtt", diagnosis: breach, warnings: [`connections: ${d.diagnosis}`, ...warnings] };
}
