// test.mode find-limit: each client container's share of a step (C1M_STEP_CONNECTIONS), in
// proportion to its planned connections, so the shares add up to test.findLimit.stepConnections.
import type { ContainerPlan } from "../../shared/plan.js";
import { stepShares } from "../../shared/findLimit.js";
import { CLIENT_ENV } from "../../shared/protocol.js";
import type { LabConfig } from "../config/schema.js";

/**
 * The extra environment of the container with plan index i: its step share under find-limit,
 * nothing in hold mode. `containers` is the whole lab's (every client host's): the shares of one
 * step add up to it over all hosts, as the connection test's step totals do.
 */
export function stepEnv(
  test: LabConfig["test"],
  containers: Pick<ContainerPlan, "index" | "connections">[],
): (i: number) => Record<string, string> {
  const step = test.mode === "find-limit" ? test.findLimit?.stepConnections : undefined;
  if (step === undefined) return () => ({});
  const shares = stepShares(
    containers.map((c) => c.connections),
    step,
  );
  const byIndex = new Map(containers.map((c, k) => [c.index, shares[k]!]));
  return (i) => ({ [CLIENT_ENV.stepConnections]: String(byIndex.get(i) ?? 0) });
}
