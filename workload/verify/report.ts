// What the connection test hands out (pure): the JSON that becomes the stack outputs, the full
// report.json, and report.md — tables a person reads.
import { markdownTable } from "markdown-table";
import { FAILURE_CLASSES, type FailureClass } from "../../shared/protocol.js";
import type { ConntrackSummary, DiagnosedLimit, Diagnosis, SharedPortsSummary, Verdict } from "./diagnose.js";
import { fmt, percent, seconds, signed } from "./format.js";
import { rttMarkdown, rttOutput, type RttOutput } from "./rtt.js";
import { generatorOutput, headroomMarkdown, type GeneratorOutput } from "./headroom.js";
import type { Expect, Observation, StopReason, VerifyPlan } from "./types.js";
import { hostsMarkdown } from "./hostReport.js";
import type { FindLimitResult } from "./findLimit/result.js";
import { findLimitMarkdown } from "./findLimit/text.js";
import { stormOutput, type StormOutput } from "./scenarios/stormVerdict.js";
import { stormMarkdown } from "./scenarios/stormReport.js";
import { flushOutput, type FlushOutput } from "./scenarios/flushVerdict.js";
import { flushMarkdown } from "./scenarios/flushReport.js";

export interface ClientOutput {
  established: number;
  failed: Record<FailureClass, number>;
  failedTotal: number;
  dropped: number;
  state: string;
  exitCode: number | null;
  restartCount: number;
}

/** Printed on stdout; becomes the stack outputs. */
export interface TestOutput {
  verdict: Verdict;
  total: number;
  target: number;
  perServerIp: Record<string, number>;
  /** {} when the client view was not observed or no container matched (see warnings). */
  perClient: Record<string, ClientOutput>;
  predicted: number;
  ceiling: number;
  bindingLimit: VerifyPlan["bindingLimit"];
  diagnosis: string;
  sharedSourcePorts: SharedPortsSummary;
  /** Table fill at the end and counter increases over the test; null when not read. */
  conntrack: { count: number; max: number; insertFailed: number; drop: number; earlyDrop: number; searchRestart: number } | null;
  rampSeconds: number | null;
  reportDir: string | null;
  limit: DiagnosedLimit;
  stopReason: StopReason;
  crossCheck: Diagnosis["crossCheck"];
  soak: Diagnosis["soak"];
  /** The hold's ping round trips in ms (rtt.ts). */
  rtt: RttOutput;
  /** Whether the load generator limited the result, and the CPU peaks (headroom.ts). */
  generator: GeneratorOutput | null;
  warnings: string[];
  /** Per client host, the connections the server holds from it (only with several hosts; null: not known). */
  perHost?: Record<string, number | null>;
  /** find-limit: the last step that held, what stopped the stepping, and each step's numbers. */
  capacity?: number;
  stoppedBy?: string;
  curve?: FindLimitResult["curve"];
  /** test.scenario reconnect-storm: the recovery (scenarios/stormVerdict.ts); null: not run. */
  storm?: StormOutput | null;
  /** test.scenario conntrack-flush: what the held connections did (scenarios/flushVerdict.ts); null: not run. */
  conntrackFlush?: FlushOutput | null;
}

export interface TestSettings {
  stack: string;
  metricsUrl: string;
  clientsLabel: string | null;
  conntrack: "local" | "none";
  expect: Expect;
  timeoutSeconds: number;
  stallSeconds: number;
  soakSeconds: number;
  intervalSeconds: number;
}

export interface TimelinePoint {
  t: number;
  total: number | null;
  perServerIp: Record<string, number> | null;
  clientsEstablished: number | null;
  conntrackCount: number | null;
  serverError: string | null;
}

/** report.json */
export interface FullReport {
  startedAt: string;
  finishedAt: string;
  settings: TestSettings;
  output: TestOutput;
  diagnosis: Diagnosis;
  /** The plan without its per-container list (long, and in the stack's config already). */
  plan: Omit<VerifyPlan, "containers">;
  timeline: TimelinePoint[];
  /** test.mode find-limit: the capacity, what stopped it, the curve (findLimit/result.ts). */
  findLimit?: FindLimitResult;
}

export function testOutput(d: Diagnosis, reportDir: string | null): TestOutput {
  const perClient: Record<string, ClientOutput> = {};
  for (const [name, c] of Object.entries(d.perClient ?? {})) {
    perClient[name] = {
      established: c.established,
      failed: c.failed,
      failedTotal: c.failedTotal,
      dropped: c.dropped,
      state: c.state,
      exitCode: c.exitCode,
      restartCount: c.restartCount,
    };
  }
  return {
    verdict: d.verdict,
    total: d.total,
    target: d.target,
    perServerIp: d.perServerIp,
    perClient,
    predicted: d.predicted,
    ceiling: d.ceiling,
    bindingLimit: d.bindingLimit,
    diagnosis: d.diagnosis,
    sharedSourcePorts: d.sharedSourcePorts,
    conntrack: d.conntrack ? { count: d.conntrack.count, max: d.conntrack.max, ...d.conntrack.delta } : null,
    rampSeconds: d.rampSeconds,
    reportDir,
    limit: d.limit,
    stopReason: d.stopReason,
    crossCheck: d.crossCheck,
    soak: d.soak,
    rtt: rttOutput(d.rtt),
    generator: generatorOutput(d.headroom),
    warnings: d.warnings,
    ...(d.hosts ? { perHost: Object.fromEntries(d.hosts.map((h) => [h.name, h.server])) } : {}),
    ...(d.storm !== undefined ? { storm: d.storm === null ? null : stormOutput(d.storm) } : {}),
    ...(d.conntrackFlush !== undefined
      ? { conntrackFlush: d.conntrackFlush === null ? null : flushOutput(d.conntrackFlush) }
      : {}),
  };
}

export function timeline(
  observations: Observation[],
  serverIpsOf: (o: Observation) => Record<string, number> | null,
): TimelinePoint[] {
  return observations.map((o) => ({
    t: o.t,
    total: o.server?.total ?? null,
    perServerIp: serverIpsOf(o),
    clientsEstablished: o.clients ? o.clients.reduce((s, c) => s + (c.status?.established ?? 0), 0) : null,
    conntrackCount: o.conntrack?.count ?? null,
    serverError: o.serverError,
  }));
}

const VERDICT_BADGE: Record<Verdict, string> = {
  pass: "✅ pass",
  "plateau-as-expected": "🟨 plateau as expected",
  fail: "❌ fail",
};

/** Table cells must not break the row. */
const cell = (s: string | number | null | undefined): string =>
  s === null || s === undefined ? "—" : String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderMarkdown(r: FullReport, chartFile: string | null = "ramp.svg"): string {
  const d = r.diagnosis;
  const out: string[] = [];
  out.push(`# Connection test: ${cell(r.settings.stack)}`);
  out.push("");
  out.push(`**${VERDICT_BADGE[d.verdict]}** — ${d.diagnosis}`);
  out.push("");

  out.push("## Summary");
  out.push("");
  out.push(
    markdownTable(
      [
        ["", "Value"],
        ["Verdict", d.verdict],
        ["Connections (measured)", `${fmt(d.total)}${d.totalSource === "clients" ? " (clients' sum: server unreachable)" : ""}`],
        ["Target", fmt(d.target)],
        ["Plan predicted", fmt(d.predicted)],
        ["Plan ceiling", fmt(d.ceiling)],
        ["Plan binding limit", d.bindingLimit],
        ["Measured limit", d.limit],
        ["Measured / predicted", d.predicted > 0 ? percent(d.total / d.predicted) : "—"],
        ["Expect", d.expect],
        ["Stopped by", d.stopReason],
        ["Ramp", d.rampSeconds === null ? "—" : seconds(d.rampSeconds)],
        ["Duration", seconds(d.durationSeconds)],
        ["Started", r.startedAt],
      ].map((row) => row.map(cell)),
      { align: ["l", "r"] },
    ),
  );
  out.push("");
  if (r.plan.explanation) {
    out.push(`Plan: ${r.plan.explanation}`);
    out.push("");
  }
  if (chartFile) {
    out.push(`![Connections over time](${chartFile})`);
    out.push("");
  }
  if (r.findLimit) out.push(...findLimitMarkdown(r.findLimit));

  out.push("## Per server IP: measured vs plan");
  out.push("");
  const ipRows = d.serverIps.map((s) => [
    s.ip,
    fmt(s.measured),
    fmt(s.planExpected),
    fmt(s.planLoad),
    fmt(s.planCapacity),
    s.planCapacity > 0 ? percent(s.measured / s.planCapacity) : "—",
    signed(s.measured - s.planExpected),
  ]);
  out.push(
    markdownTable(
      [
        ["Server IP", "Measured", "Plan expected", "Plan load", "Capacity (source ports)", "Fill", "Δ vs plan"],
        ...ipRows,
        ["**total**", `**${fmt(d.total)}**`, `**${fmt(d.serverIps.reduce((a, s) => a + s.planExpected, 0))}**`, "", "", "", ""],
      ].map((row) => row.map(cell)),
      { align: ["l", "r", "r", "r", "r", "r", "r"] },
    ),
  );
  out.push("");

  out.push(...hostsMarkdown(d.hosts));
  out.push("## Per client");
  out.push("");
  const clients = Object.entries(d.perClient ?? {});
  if (clients.length === 0) {
    out.push(d.perClient === null ? "_Client view not observed._" : "_No client containers found._");
  } else {
    out.push(
      markdownTable(
        [
          ["Client", "State", "Established", "Target", ...FAILURE_CLASSES, "Dropped", "Restarts"],
          ...clients.map(([name, c]) => [
            name,
            c.state + (c.exitCode !== null && c.state !== "running" ? ` (${c.exitCode}${c.oomKilled ? ", OOM" : ""})` : ""),
            c.reported ? fmt(c.established) : "no status yet",
            c.target === null ? "—" : fmt(c.target),
            ...FAILURE_CLASSES.map((k) => fmt(c.failed[k])),
            fmt(c.dropped),
            fmt(c.restartCount),
          ]),
        ].map((row) => row.map(cell)),
        { align: ["l", "l", "r", "r", ...FAILURE_CLASSES.map(() => "r" as const), "r", "r"] },
      ),
    );
  }
  out.push("");
  if (d.crossCheck) {
    const c = d.crossCheck;
    out.push(
      `Cross-check: server ${fmt(c.server)} vs clients ${fmt(c.clients)} (${signed(c.difference)}, tolerance ±${fmt(c.tolerance)}): ${c.ok ? "consistent" : "**mismatch — half-open connections**"}.`,
    );
    out.push("");
  }

  out.push("## Conntrack (NAT host)");
  out.push("");
  out.push(d.conntrack ? conntrackTable(d.conntrack) : "_Not read._");
  out.push("");

  out.push("## The proof: source ports shared across server IPs");
  out.push("");
  const shared = Object.entries(d.sharedSourcePorts.perRemoteIp);
  if (shared.length === 0) {
    out.push("_The server reported no shared source ports._");
  } else {
    out.push(
      markdownTable(
        [
          ["Client IP (after NAT)", "Source ports toward >1 server IP", "Example"],
          ...shared.map(([ip, s]) => [
            ip,
            fmt(s.count),
            s.example ? `port ${s.example.port} → ${s.example.localAddresses.join(", ")}` : "—",
          ]),
        ].map((row) => row.map(cell)),
        { align: ["l", "r", "l"] },
      ),
    );
    if (d.sharedSourcePorts.example) {
      out.push("");
      out.push(
        `The same NAT'd ${d.sharedSourcePorts.example}: a 4-tuple differs by its server IP, so each server IP gets its own source-port pool.`,
      );
    }
  }
  out.push("");

  out.push("## Plan paths");
  out.push("");
  out.push(
    markdownTable(
      [
        ["Client source", "Server", "Port", "Capacity", "Load", "Expected", "Kind"],
        ...r.plan.paths.map((p) => [p.source, p.server, String(p.port), fmt(p.capacity), fmt(p.load), fmt(p.expected), p.kind]),
      ].map((row) => row.map(cell)),
      { align: ["l", "l", "r", "r", "r", "r", "l"] },
    ),
  );
  out.push("");

  if (d.soak) {
    out.push("## Soak");
    out.push("");
    out.push(
      `Held ${seconds(d.soak.seconds)}: ${fmt(d.soak.start)} → ${fmt(d.soak.end)} (lowest ${fmt(d.soak.min)}), lost ${fmt(d.soak.lost)}, clients dropped ${fmt(d.soak.clientsDropped)}.`,
    );
    out.push("");
  }

  out.push(...stormMarkdown(d.storm));
  out.push(...flushMarkdown(d.conntrackFlush));
  out.push(...rttMarkdown(d.rtt));
  out.push(...headroomMarkdown(d.headroom));

  out.push("## Warnings");
  out.push("");
  out.push(d.warnings.length === 0 ? "_None._" : d.warnings.map((w) => `- ${w}`).join("\n"));
  out.push("");
  return out.join("\n");
}

function conntrackTable(c: ConntrackSummary): string {
  const rows: [string, number, number][] = [
    ["nf_conntrack_count", c.start.count, c.end.count],
    ["nf_conntrack_max", c.start.max, c.end.max],
    ["insert_failed", c.start.insertFailed, c.end.insertFailed],
    ["drop", c.start.drop, c.end.drop],
    ["early_drop", c.start.earlyDrop, c.end.earlyDrop],
    ["search_restart", c.start.searchRestart, c.end.searchRestart],
  ];
  return (
    markdownTable(
      [["Counter", "Start", "End", "Δ"], ...rows.map(([k, a, b]) => [k, fmt(a), fmt(b), signed(b - a)])].map((row) =>
        row.map(cell),
      ),
      {
        align: ["l", "r", "r", "r"],
      },
    ) + `\n\nTable fill at the end: ${percent(c.fill)}.`
  );
}
