// Criteria judged on top of the connection count (pure). The hold's round trips against
// test.maxRttMs: a breach turns a pass (or an expected plateau) into a fail with its own
// sentence; on a run that failed already it is one more warning. And the load generator's
// headroom: a client that ran out of CPU is named in the diagnosis, whatever the verdict.
import { generatorSentence, summarizeHeadroom } from "./headroom.js";
import { rttBreach, rttWarnings, summarizeRtt } from "./rtt.js";
import type { Diagnosis } from "./summary.js";
import type { Run } from "./types.js";

export interface HoldCheckOptions {
  /** Bound on the p99 round trip in ms (test.maxRttMs); null = report the round trips only. */
  maxRttMs: number | null;
}

/** The diagnosis with the round trips of the run's last client view, the CPU headroom, and their verdict. */
export function withHoldChecks(d: Diagnosis, run: Run, opts: HoldCheckOptions): Diagnosis {
  const clients = [...run.observations].reverse().find((o) => o.clients !== null)?.clients ?? null;
  const rtt = summarizeRtt(clients, opts.maxRttMs);
  const headroom = summarizeHeadroom(run.observations);
  const warnings = [...d.warnings, ...rttWarnings(rtt)];
  const breach = rttBreach(rtt, opts.maxRttMs);
  let judged: Diagnosis = { ...d, rtt, headroom, warnings };
  if (breach !== null && d.verdict === "fail") judged = { ...judged, warnings: [...warnings, breach] };
  else if (breach !== null) {
    judged = {
      ...judged,
      verdict: "fail",
      limit: "rtt",
      diagnosis: breach,
      warnings: [`connections: ${d.diagnosis}`, ...warnings],
    };
  }
  const generator = generatorSentence(headroom);
  return generator === null ? judged : { ...judged, diagnosis: `${judged.diagnosis} ${generator}` };
}
