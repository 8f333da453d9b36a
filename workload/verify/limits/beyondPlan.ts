// Everything connected although the plan (and expect: plateau) said it would not.
import { fmt } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";

function detect(f: Facts): string | null {
  const { plan } = f;
  if (!(plan.predicted < plan.target && f.ctx.expect === "plateau")) return null;
  return (
    `All ${fmt(f.total)} connections were established, but the plan predicted a plateau at ${fmt(plan.predicted)} (${plan.bindingLimit}): ` +
    `the lab holds more than planned (a wider NAT pool or more client source IPs than the plan assumed); re-run the plan with the real topology.`
  );
}

export const beyondPlan: LimitClass = { limit: "none", detect };
