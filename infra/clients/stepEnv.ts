// test.mode find-limit: each client container's share of a step (C1M_STEP_CONNECTIONS), in
// proportion to its planned connections, so the shares add up to test.findLimit.stepConnections.
import type { CapacityPlan } from "../../shared/plan.js";
import { stepShares } from "../../shared/findLimit.js";
import { CLIENT_ENV } from "../../shared/protocol.js";
import type { LabConfig } from "../config/schema.js";

/** Container i's extra environment: its step share under find-limit, nothing in hold mode. */
export function stepEnv(test: LabConfig["test"], plan: Pick<CapacityPlan, "containers">): (i: number) => Record<string, string> {
  const step = test.mode === "find-limit" ? test.findLimit?.stepConnections : undefined;
  if (step === undefined) return () => ({});
  const shares = stepShares(
    plan.containers.map((c) => c.connections),
    step,
  );
  return (i) => ({ [CLIENT_ENV.stepConnections]: String(shares[i] ?? 0) });
}
