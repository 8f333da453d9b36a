// The connection server's flags, the same on a namespace and on a VM.
import type { CapacityPlan } from "../../shared/plan.js";
import type { LabConfig } from "../config/schema.js";
import { addressOf } from "../plan/net.js";

/** The connection server's command-line flags: every lab address, the plan's workers, metrics on the primary. */
export function connectionServerArgs(config: LabConfig, plan: CapacityPlan): string[] {
  const { server } = config;
  return [
    "--port",
    String(server.port),
    "--addresses",
    plan.serverAddresses.join(","),
    "--workers",
    String(plan.serverWorkers),
    "--metrics-port",
    String(server.metricsPort),
    "--metrics-address",
    addressOf(server.primaryAddress),
    "--backlog",
    "4096",
    "--expect-connections",
    String(plan.target),
    ...(plan.serverListenGroups > 1 ? ["--listen-groups", String(plan.serverListenGroups)] : []),
  ];
}
