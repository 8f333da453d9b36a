// A step judged (pure): every criterion's break, in order; none = the step holds.
import type { StepBreak } from "./criterion.js";
import { CRITERIA } from "./criteria/index.js";
import type { StepMeasure } from "./measure.js";
import type { FindLimitSettings } from "./settings.js";

export interface StepResult {
  measure: StepMeasure;
  breaks: StepBreak[];
}

export function judgeStep(measure: StepMeasure, settings: FindLimitSettings): StepResult {
  const breaks = CRITERIA.flatMap((c) => {
    const reason = c.judge(measure, settings);
    return reason === null ? [] : [{ criterion: c.name, reason }];
  });
  return { measure, breaks };
}
