// find-limit in words (pure): a progress line per step, the diagnosis, report.md's section.
import { markdownTable } from "markdown-table";
import { fmt, percent } from "../format.js";
import { ms } from "../rtt.js";
import type { StepResult } from "./judge.js";
import type { CurvePoint, FindLimitResult } from "./result.js";

/** "find-limit: step 2/3 (1,000): held 1,000, failed 0 of 500, p99 0.41 ms, MemAvailable 3,210 MiB, busiest worker 0.03 cores: holds" */
export function stepLine(r: StepResult, steps: number): string {
  const m = r.measure;
  const parts = [
    `held ${m.held === null ? "?" : fmt(m.held)}`,
    m.clients ? `failed ${fmt(m.clients.failed)} of ${fmt(m.clients.attempted)}` : "clients not read",
    m.rtt?.percentiles ? `p99 ${ms(m.rtt.percentiles.p99)}` : "no round trips",
    m.memAvailableMinBytes === null ? null : `MemAvailable ${fmt(m.memAvailableMinBytes / 2 ** 20)} MiB`,
    m.busiestWorker ? `busiest worker ${m.busiestWorker.cpu.toFixed(2)} cores` : null,
  ].filter((p) => p !== null);
  const verdict =
    r.breaks.length === 0 ? "holds" : `breaks ${r.breaks.map((b) => b.criterion).join(", ")}: ${r.breaks[0]!.reason}`;
  return `find-limit: step ${m.step}/${steps} (${fmt(m.target)}): ${parts.join(", ")}: ${verdict}`;
}

/** The run's diagnosis: the capacity, what stopped it, and the plan beside it when they differ. */
export function findLimitDiagnosis(r: FindLimitResult): string {
  const last = r.curve.at(-1);
  const head = `Capacity ${fmt(r.capacity)} connections`;
  const stop =
    r.stoppedBy === "ceiling"
      ? r.reason
      : r.stoppedBy === "signal"
        ? `stepping stopped after step ${last?.step ?? 0}: ${r.reason}`
        : `step ${last!.step} (${fmt(last!.target)}) broke ${r.stoppedBy}: ${r.reason}`;
  return [`${head}; ${stop}`, r.planDiffers].filter((s) => s !== null).join(" ");
}

const cell = (x: number | null, f: (n: number) => string = fmt): string => (x === null ? "—" : f(x));

function row(p: CurvePoint): string[] {
  return [
    String(p.step),
    fmt(p.target),
    cell(p.held),
    p.attempted === null || p.failed === null ? "—" : `${fmt(p.failed)} / ${fmt(p.attempted)}`,
    cell(p.p99Ms, ms),
    cell(p.memAvailableMiB),
    cell(p.busiestWorkerCpu, (c) => c.toFixed(2)),
    p.broke.length === 0 ? "holds" : p.broke.join(", "),
  ];
}

/** report.md's section. */
export function findLimitMarkdown(r: FindLimitResult): string[] {
  const header = [
    "step",
    "target",
    "held",
    "failed / attempted",
    "p99",
    "MemAvailable (MiB)",
    "busiest worker (cores)",
    "result",
  ];
  const out = ["## Find the limit", "", findLimitDiagnosis(r), ""];
  out.push(markdownTable([header, ...r.curve.map(row)]), "");
  for (const b of r.breaks.slice(1)) out.push(`- also broke ${b.criterion}: ${b.reason}`);
  if (r.breaks.length > 1) out.push("");
  out.push(
    `Plan: target ${fmt(r.plan.target)}, predicted ${fmt(r.plan.predicted)} (binding limit ${r.plan.bindingLimit}). ` +
      `Measured: capacity ${fmt(r.capacity)}, stopped by ${r.stoppedBy}. A step breaks above ${percent(r.settings.maxFailureRate)} failed connects.`,
    "",
  );
  if (r.firstStep > 1)
    out.push(
      `_The clients were at step ${r.firstStep} when the test began (it ran before on them): earlier steps were not measured again._`,
      "",
    );
  return out;
}

/** The stack outputs' part: the capacity, what stopped it, and the curve. */
export function findLimitOutput(r: FindLimitResult): { capacity: number; stoppedBy: string; curve: FindLimitResult["curve"] } {
  return { capacity: r.capacity, stoppedBy: r.stoppedBy, curve: r.curve };
}
