// What the engine-free runner runs for a stack: the program's own LabSteps (labSteps, as
// index.ts builds them), after the checks that keep it to what it can run. The lab:* CLI and
// the test comparing the runner with the program build them here, so both see the same steps.
import { homedir } from "node:os";
import type { LabConfig } from "../config/schema.js";
import { localLabPaths } from "../install/stage.js";
import { planCapacity, type HostFacts } from "../plan/capacity.js";
import { labSteps, type LabSteps } from "../server/netns/steps.js";
import type { CapacityPlan } from "../../shared/plan.js";

/** A stack the direct runner does not run: the message says what does. */
export class DirectUnsupported extends Error {
  override name = "DirectUnsupported";
}

/** Throws DirectUnsupported for a stack only the engine runs (a VM server, clients on several hosts). */
export function refuseUnsupported(config: LabConfig): void {
  if (config.server.provider !== "netns") {
    throw new DirectUnsupported(
      `server.provider ${config.server.provider} needs the Pulumi engine; only netns stacks run without it`,
    );
  }
  if (config.clients.hosts) {
    throw new DirectUnsupported(
      "clients.hosts (clients on several Docker hosts) needs the Pulumi engine; only stacks without it run without the engine",
    );
  }
}

/** The plan and steps of a stack the direct runner runs, from this machine's facts, node and home. */
export function directLabSteps(
  root: string,
  config: LabConfig,
  stack: string,
  facts: HostFacts,
): { plan: CapacityPlan; steps: LabSteps } {
  refuseUnsupported(config);
  const plan = planCapacity(config, facts);
  return { plan, steps: labSteps(config, plan, stack, localLabPaths(root, stack, { node: process.execPath, home: homedir() })) };
}
