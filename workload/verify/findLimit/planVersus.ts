// The plan's binding limit beside the measured one (pure): null when they agree, else one
// sentence saying why they differ.
import type { FindLimitCriterion } from "../../../shared/findLimit.js";
import { fmt } from "../format.js";
import type { VerifyPlan } from "../types.js";

export interface Measured {
  capacity: number;
  /** The target of the step that broke; null when none did. */
  broken: number | null;
  stoppedBy: FindLimitCriterion | "ceiling" | "signal";
}

export function planVersusMeasured(plan: Pick<VerifyPlan, "target" | "predicted" | "bindingLimit">, m: Measured): string | null {
  const planLimit = `the plan's binding limit (${plan.bindingLimit}, ${fmt(plan.predicted)})`;
  if (m.stoppedBy === "signal") return null;
  if (m.broken === null) {
    if (plan.bindingLimit === "target") return null;
    return `The lab held all ${fmt(m.capacity)} although ${planLimit} predicted fewer: that limit did not bind here, so the plan's model of it is too cautious for this host.`;
  }
  // The plan's limit lies between the last good step and the broken one: the same limit, measured.
  if (plan.bindingLimit !== "target" && m.capacity <= plan.predicted && plan.predicted < m.broken) return null;
  if (plan.predicted >= m.broken) {
    return `The lab broke at ${fmt(m.broken)} on ${m.stoppedBy}, though ${planLimit} allows it: a limit the plan does not model (the server's, the kernel's or the clients' own) came first.`;
  }
  return `The lab held ${fmt(m.capacity)}, beyond ${planLimit}, and broke at ${fmt(m.broken)} on ${m.stoppedBy}: the plan's model of ${plan.bindingLimit} is too cautious for this host.`;
}
