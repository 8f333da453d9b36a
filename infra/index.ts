// The Pulumi program's edge: read and validate config, plan, build the lab, export the report.
// Bad config or an infeasible target stops here, before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { fileURLToPath } from "node:url";
import { planCapacity, PlanError } from "./capacity.js";
import { ConfigError, parseLabConfig } from "./config.js";
import { gatherHostFacts } from "./facts.js";
import { Lab } from "./lab.js";
import { labSteps, type LabPaths } from "./steps.js";

const NAMESPACE = "c1m-lab";

/** Stack config as Pulumi hands it over: `c1m-lab:key` → string. */
function rawConfig(): Record<string, unknown> {
  const all = pulumi.runtime.allConfig();
  return Object.fromEntries(
    Object.entries(all)
      .filter(([k]) => k.startsWith(`${NAMESPACE}:`))
      .map(([k, v]) => [k.slice(NAMESPACE.length + 1), v]),
  );
}

export default async function main() {
  const stack = pulumi.getStack();
  let lab: Lab;
  try {
    const config = parseLabConfig(rawConfig());
    const facts = await gatherHostFacts();
    const plan = planCapacity(config, facts);
    for (const warning of plan.warnings) pulumi.log.warn(warning);
    const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
    const paths: LabPaths = {
      root,
      node: process.execPath,
      stateDir: `/run/c1m-lab/${stack}`,
      reportsDir: `${root}/reports`,
    };
    lab = new Lab("lab", { config, plan, steps: labSteps(config, plan, stack, paths), paths });
    return {
      target: plan.target,
      predicted: plan.predicted,
      ceiling: plan.ceiling,
      serverAddresses: plan.serverAddresses,
      metricsUrl: lab.metricsUrl,
      verdict: lab.report.apply((r) => r.verdict ?? null),
      total: lab.report.apply((r) => r.total ?? null),
      perServerIp: lab.report.apply((r) => r.perServerIp ?? null),
      bindingLimit: lab.report.apply((r) => r.bindingLimit ?? plan.bindingLimit),
      diagnosis: lab.report.apply((r) => r.diagnosis ?? null),
      reportDir: lab.report.apply((r) => r.reportDir ?? null),
    };
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PlanError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
