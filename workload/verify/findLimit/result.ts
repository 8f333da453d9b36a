// A find-limit run summed up (pure): the capacity (the last step that held), what stopped the
// stepping and why, the curve, and the plan's binding limit beside the measured one.
import type { FindLimitCriterion } from "../../../shared/findLimit.js";
import type { VerifyPlan } from "../types.js";
import type { StepBreak } from "./criterion.js";
import type { FindLimitRun } from "./loop.js";
import type { StepResult } from "./judge.js";
import { planVersusMeasured } from "./planVersus.js";
import type { FindLimitSettings } from "./settings.js";

export interface CurvePoint {
  step: number;
  target: number;
  held: number | null;
  reached: boolean;
  attempted: number | null;
  failed: number | null;
  p99Ms: number | null;
  memAvailableMiB: number | null;
  /** The busiest server worker's CPU in cores. */
  busiestWorkerCpu: number | null;
  /** The criteria the step broke (empty: it held). */
  broke: FindLimitCriterion[];
}

export interface FindLimitResult {
  /** The target of the last step that held every criterion; 0 when none did. */
  capacity: number;
  /** What ended the stepping: a criterion, the plan's target reached (ceiling), or the signal failing. */
  stoppedBy: FindLimitCriterion | "ceiling" | "signal";
  /** Why, in one sentence. */
  reason: string;
  /** Every break of the last step, in criterion order. */
  breaks: StepBreak[];
  curve: CurvePoint[];
  plan: { target: number; predicted: number; bindingLimit: VerifyPlan["bindingLimit"] };
  /** When the plan's binding limit and the measured one differ, why, in one sentence; else null. */
  planDiffers: string | null;
  firstStep: number;
  steps: number;
  settings: FindLimitSettings;
}

export function findLimitResult(
  run: FindLimitRun,
  plan: VerifyPlan,
  totals: number[],
  settings: FindLimitSettings,
): FindLimitResult {
  const good = run.steps.filter((r) => r.breaks.length === 0);
  const capacity = good.at(-1)?.measure.target ?? 0;
  const last = run.steps.at(-1);
  const stoppedBy = run.end === "break" ? last!.breaks[0]!.criterion : run.end;
  const broken = run.end === "break" ? last!.measure.target : null;
  return {
    capacity,
    stoppedBy,
    reason: stopReason(run, last, totals),
    breaks: run.end === "break" ? last!.breaks : [],
    curve: run.steps.map(curvePoint),
    plan: { target: plan.target, predicted: plan.predicted, bindingLimit: plan.bindingLimit },
    planDiffers: planVersusMeasured(plan, { capacity, broken, stoppedBy }),
    firstStep: run.firstStep,
    steps: totals.length,
    settings,
  };
}

function stopReason(run: FindLimitRun, last: StepResult | undefined, totals: number[]): string {
  if (run.end === "break") return last!.breaks[0]!.reason;
  if (run.end === "signal") return `The next step could not be started: ${run.signalError}.`;
  return `Every step held, up to the plan's target of ${totals.at(-1)?.toLocaleString("en-US") ?? 0}: the limit is beyond this lab's load.`;
}

function curvePoint(r: StepResult): CurvePoint {
  const m = r.measure;
  return {
    step: m.step,
    target: m.target,
    held: m.held,
    reached: m.reached,
    attempted: m.clients?.attempted ?? null,
    failed: m.clients?.failed ?? null,
    p99Ms: m.rtt?.percentiles?.p99 ?? null,
    memAvailableMiB: m.memAvailableMinBytes === null ? null : Math.floor(m.memAvailableMinBytes / 2 ** 20),
    busiestWorkerCpu: m.busiestWorker?.cpu ?? null,
    broke: r.breaks.map((b) => b.criterion),
  };
}
