// find-limit inside the connection test: runs the stepping with progress lines, and hands back a
// Run (for the connection diagnosis and the report's timeline), the plan judged at the last step
// and the find-limit result; `judged` then puts that result into the diagnosis.
import { stepTotals } from "../../../shared/findLimit.js";
import { last } from "../series.js";
import type { Diagnosis } from "../summary.js";
import type { Observation, Run, VerifyPlan } from "../types.js";
import type { Clock, Poll } from "../wait.js";
import { runFindLimit } from "./loop.js";
import { findLimitResult, type FindLimitResult } from "./result.js";
import type { FindLimitSettings } from "./settings.js";
import { stepCauseSentence } from "./stepCause.js";
import { findLimitDiagnosis, stepLine } from "./text.js";

export interface SteppedOptions {
  plan: VerifyPlan;
  settings: FindLimitSettings;
  timeoutSeconds: number;
  stallSeconds: number;
  intervalSeconds: number;
}

export interface SteppedDeps {
  poll: Poll;
  clock?: Clock;
  nextStep: () => Promise<string | null>;
  progress: (line: string) => void;
  onObservation: (o: Observation, target: number) => void;
}

export interface Stepped {
  run: Run;
  /** The plan with the last step's target: what the connection diagnosis judges. */
  plan: VerifyPlan;
  result: FindLimitResult;
}

export async function steppedRun(opts: SteppedOptions, deps: SteppedDeps): Promise<Stepped> {
  const totals = stepTotals(
    opts.plan.containers.map((c) => c.connections),
    opts.settings.stepConnections,
  );
  const looped = await runFindLimit(
    { ...opts, totals },
    {
      ...deps,
      onStep: (r) => deps.progress(stepLine(r, totals.length)),
    },
  );
  const lastStep = looped.steps.at(-1)?.measure;
  const target = lastStep?.target ?? totals[0] ?? opts.plan.target;
  return {
    run: {
      observations: looped.observations,
      stopReason: lastStep?.reached ? "target" : "stall",
      soakStartIndex: null,
      soakSeconds: 0,
      timeoutSeconds: opts.timeoutSeconds,
      stallSeconds: opts.stallSeconds,
      intervalSeconds: opts.intervalSeconds,
    },
    plan: { ...opts.plan, target, predicted: Math.min(opts.plan.predicted, target) },
    result: findLimitResult(looped, opts.plan, totals, opts.settings),
  };
}

/**
 * The connection diagnosis of the last step turned into find-limit's: a capacity found is a
 * pass; the sentence leads with the capacity, then what stopped the broken step (its limit said
 * of the step, the plan beside it). The hold's sentence is left out: it judges the step against
 * a plan's target the step was never meant to reach.
 */
export function judged(d: Diagnosis, s: Pick<Stepped, "result" | "run" | "plan">): Diagnosis {
  const r = s.result;
  const found = r.capacity > 0 && r.stoppedBy !== "signal";
  const server = last(s.run.observations, (o) => o.server !== null)?.server ?? null;
  const cause = stepCauseSentence(d, r, server, s.plan);
  return {
    ...d,
    verdict: found ? "pass" : "fail",
    limit: r.stoppedBy === "rtt" ? "rtt" : d.limit,
    diagnosis: [findLimitDiagnosis(r), cause].filter((x) => x !== null).join(" "),
  };
}
