// The one interface every find-limit criterion implements: judge one step from what the polls
// saw of it, and say in one sentence why it breaks the step (null: the step passes it).
import type { FindLimitCriterion } from "../../../shared/findLimit.js";
import type { StepMeasure } from "./measure.js";
import type { FindLimitSettings } from "./settings.js";

export interface Criterion {
  name: FindLimitCriterion;
  /** The sentence when the step breaks it, else null. */
  judge: (m: StepMeasure, s: FindLimitSettings) => string | null;
}

/** A criterion's break of a step. */
export interface StepBreak {
  criterion: FindLimitCriterion;
  reason: string;
}
