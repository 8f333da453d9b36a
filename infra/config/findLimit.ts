// test.mode find-limit's settings (test.findLimit) and their checks across the config. Pure; the
// schema imports it, this module never imports the schema (its inputs are structural).
import { z } from "zod";
import { FIND_LIMIT_DEFAULTS } from "../../shared/findLimit.js";
import { PING_HOLD_MARGIN_SECONDS } from "../../shared/protocol.js";

/** hold: ramp to the plan's target and judge it; find-limit: step up until a step breaks a criterion. */
export const testMode = z.enum(["hold", "find-limit"]).default("hold");

export const findLimitSettings = z
  .object({
    /** Connections each step adds; the clients' shares of it sum to it. Required with find-limit. */
    stepConnections: z.number().int().min(1).max(100_000_000).optional(),
    /** How long each step holds once reached (its ramp is bounded by test.timeoutSeconds / stallSeconds). */
    stepSeconds: z.number().int().min(1).max(86_400).default(FIND_LIMIT_DEFAULTS.stepSeconds),
    /** A step breaks above this fraction of failed connects (or when the server holds less than 1 − it). */
    maxFailureRate: z.number().min(0).lt(1).default(FIND_LIMIT_DEFAULTS.maxFailureRate),
    /** A step breaks when the server host's MemAvailable falls below this (0 = not judged). */
    minMemAvailableMiB: z.number().int().min(0).default(FIND_LIMIT_DEFAULTS.minMemAvailableMiB),
    /** A step breaks when a server worker uses more cores than this over the hold (0 = not judged). */
    maxWorkerCpu: z.number().min(0).max(64).default(FIND_LIMIT_DEFAULTS.maxWorkerCpu),
  })
  .strict();

export type FindLimitConfig = z.output<typeof findLimitSettings>;

interface Input {
  test: { mode: "hold" | "find-limit"; findLimit?: FindLimitConfig | undefined; maxRttMs?: number | undefined };
  clients: {
    /** A host's own containers and connections, else the clients defaults (clientHosts.ts). */
    hosts?: { containers?: number | undefined; connectionsPerContainer?: number | undefined }[] | undefined;
    containers: number;
    connectionsPerContainer: number;
    ping: { intervalSeconds: number };
  };
}

export interface FindLimitIssue {
  path: (string | number)[];
  message: string;
}

/** The lab's client containers and target, over every client host (each steps by its containers' shares). */
function clientTotals(clients: Input["clients"]): { containers: number; target: number } {
  const hosts = clients.hosts ?? [{}];
  let [containers, target] = [0, 0];
  for (const h of hosts) {
    const n = h.containers ?? clients.containers;
    containers += n;
    target += n * (h.connectionsPerContainer ?? clients.connectionsPerContainer);
  }
  return { containers, target };
}

/** What makes a find-limit config unrunnable (or a findLimit block that would be ignored). */
export function findLimitIssues(c: Input): FindLimitIssue[] {
  const f = c.test.findLimit;
  if (c.test.mode === "hold") {
    return f
      ? [{ path: ["test", "findLimit"], message: "findLimit is read only with test.mode: find-limit; set the mode or remove it" }]
      : [];
  }
  const step = f?.stepConnections;
  const { containers, target } = clientTotals(c.clients);
  if (step === undefined) {
    return [
      {
        path: ["test", "findLimit", "stepConnections"],
        message: `required with test.mode: find-limit: the connections each step adds (e.g. ${Math.max(containers, Math.floor(target / 10))}, a tenth of the target ${target})`,
      },
    ];
  }
  const issues: FindLimitIssue[] = [];
  if (step < containers || step > target) {
    const where = c.clients.hosts ? "the client containers over all clients.hosts" : "clients.containers";
    issues.push({
      path: ["test", "findLimit", "stepConnections"],
      message: `stepConnections ${step} must be between ${where} (${containers}: each container adds at least one) and the target (${target})`,
    });
  }
  const stepSeconds = f!.stepSeconds;
  const interval = c.clients.ping.intervalSeconds;
  if (c.test.maxRttMs !== undefined && stepSeconds < interval + PING_HOLD_MARGIN_SECONDS) {
    issues.push({
      path: ["test", "findLimit", "stepSeconds"],
      message: `with test.maxRttMs each step's hold must see its pings answered: clients ping every ${interval} s, so make stepSeconds at least clients.ping.intervalSeconds + ${PING_HOLD_MARGIN_SECONDS} (${interval + PING_HOLD_MARGIN_SECONDS}), or ping more often`,
    });
  }
  return issues;
}
