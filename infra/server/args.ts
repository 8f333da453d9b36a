// The connection server's flags, the same on a namespace and on a VM.
import type { CapacityPlan } from "../../shared/plan.js";
import type { LabConfig } from "../config/schema.js";
import { addressOf } from "../plan/net.js";

/**
 * The connection server's command-line flags: the plan's server addresses (the ones the clients
 * target, nothing else), the plan's workers, metrics on the namespace's primary address or on a
 * VM's server.metricsAddress (loopback unless configured).
 */
export function connectionServerArgs(config: LabConfig, plan: CapacityPlan): string[] {
  const { server } = config;
  const metricsAddress = server.provider === "netns" ? addressOf(server.primaryAddress) : server.metricsAddress;
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
    metricsAddress,
    "--backlog",
    "4096",
    "--expect-connections",
    String(plan.target),
    ...(plan.serverListenGroups > 1 ? ["--listen-groups", String(plan.serverListenGroups)] : []),
  ];
}
