// The one interface every limit class implements: a detector over the facts of a run that returns
// its one-sentence explanation (the limit, its numbers, the fix) or null. Sentences stay one
// line's worth at any scale: lists of IPs or containers are summarized, the report has them in full.
import type { FailureClass, ServerStats } from "../../../shared/protocol.js";
import type {
  ClientSummary,
  ConntrackSummary,
  CrossCheck,
  DiagnoseContext,
  DiagnosedLimit,
  ServerIpRow,
  SharedPortsSummary,
  SoakSummary,
} from "../summary.js";
import type { Observation, Run, VerifyPlan } from "../types.js";

/** Everything the detectors read about one run. */
export interface Facts {
  plan: VerifyPlan;
  run: Run;
  ctx: DiagnoseContext;
  total: number;
  server: ServerStats | null;
  lastServerObs: Observation | undefined;
  observations: Observation[];
  perClient: [string, ClientSummary][];
  /** Containers down at the end (exited, restarting, dead...). */
  down: [string, ClientSummary][];
  /** Containers that restarted (or were OOM-killed) but run again. */
  restarted: [string, ClientSummary][];
  failures: Record<FailureClass, number>;
  conntrack: ConntrackSummary | null;
  serverIps: ServerIpRow[];
  sharedSourcePorts: SharedPortsSummary;
  crossCheck: CrossCheck | null;
  soak: SoakSummary | null;
}

export interface LimitClass {
  limit: DiagnosedLimit;
  /** The sentence when the run shows this limit, else null. */
  detect: (f: Facts) => string | null;
}
