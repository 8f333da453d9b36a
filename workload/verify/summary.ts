// The shapes of a run's judgement (types only): the diagnosis and the summaries it is built from.
// Kept apart so the judgement (diagnose.ts), its detectors (limits/) and the renderers all import
// them from here and none of them imports another in a circle.
import type { FailureClass, ServerStats } from "../../shared/protocol.js";
import type { HeadroomSummary } from "./headroom.js";
import type { RttSummary } from "./rtt.js";
import type { StormSummary } from "./scenarios/stormMeasure.js";
import type { FlushSummary } from "./scenarios/flushMeasure.js";
import type { ConntrackReading, Expect, HostSummary, StopReason, VerifyPlan } from "./types.js";

export type Verdict = "pass" | "plateau-as-expected" | "fail";

/** The limit the measurement points at ("none" when everything connected and held). */
export type DiagnosedLimit =
  | "none"
  | "nat-pool"
  | "container-port-range"
  | "client-fd-limit"
  | "server-fd-limit"
  | "conntrack"
  | "server-unreachable"
  | "server-refused"
  | "clients-crashed"
  | "half-open"
  | "soak-loss"
  | "still-ramping"
  | "connect-timeouts"
  | "rtt"
  | "client-host-lost"
  | "recovery"
  | "nat-state"
  | "unknown";

export interface DiagnoseContext {
  expect: Expect;
  /** For the sentences: where /stats was fetched, how clients were found. */
  metricsUrl?: string;
  clientsLabel?: string | null;
}

export interface ClientSummary {
  state: string;
  exitCode: number | null;
  restartCount: number;
  oomKilled: boolean;
  /** Not running, restarted, or OOM-killed. */
  crashed: boolean;
  /** Whether it has printed a status line yet. */
  reported: boolean;
  established: number;
  target: number | null;
  failed: Record<FailureClass, number>;
  failedTotal: number;
  dropped: number;
  lastError: string | null;
}

export interface ConntrackSummary {
  count: number;
  max: number;
  fill: number;
  start: ConntrackReading;
  end: ConntrackReading;
  /** Counter increases over the test. */
  delta: { insertFailed: number; drop: number; earlyDrop: number; searchRestart: number };
}

export interface SharedPortsSummary {
  /** Source ports (over all remote IPs) in use toward more than one server address at once. */
  total: number;
  perRemoteIp: ServerStats["sharedSourcePorts"];
  /** "source port 37816 of 10.201.0.1 reaches 10.201.0.2, .3 and .4 at once", or null. */
  example: string | null;
}

export interface ServerIpRow {
  ip: string;
  measured: number;
  /** Sum over the plan's paths to this IP. */
  planLoad: number;
  planExpected: number;
  planCapacity: number;
  paths: number;
}

export interface CrossCheck {
  server: number;
  clients: number;
  difference: number;
  tolerance: number;
  ok: boolean;
}

export interface SoakSummary {
  seconds: number;
  start: number;
  end: number;
  min: number;
  lost: number;
  clientsDropped: number;
}

export interface Diagnosis {
  verdict: Verdict;
  limit: DiagnosedLimit;
  diagnosis: string;
  total: number;
  totalSource: "server" | "clients" | "none";
  target: number;
  predicted: number;
  ceiling: number;
  bindingLimit: VerifyPlan["bindingLimit"];
  expect: Expect;
  stopReason: StopReason;
  durationSeconds: number;
  rampSeconds: number | null;
  perServerIp: Record<string, number>;
  serverIps: ServerIpRow[];
  /** null = client view not observed; {} = observed, none found. */
  perClient: Record<string, ClientSummary> | null;
  failures: Record<FailureClass, number>;
  conntrack: ConntrackSummary | null;
  sharedSourcePorts: SharedPortsSummary;
  crossCheck: CrossCheck | null;
  soak: SoakSummary | null;
  /** Round trips of the hold (holdChecks.ts); absent before those checks ran. */
  rtt?: RttSummary | null;
  /** The clients' and the server's CPU (holdChecks.ts, headroom.ts). */
  headroom?: HeadroomSummary | null;
  warnings: string[];
  /** test.scenario reconnect-storm (scenarios/); null: not run; absent: another scenario. */
  storm?: StormSummary | null;
  /** test.scenario conntrack-flush (scenarios/); null: not run; absent: another scenario. */
  conntrackFlush?: FlushSummary | null;
  /** Per client host (only with several hosts; see hostDiagnosis.ts). */
  hosts?: HostSummary[];
}
