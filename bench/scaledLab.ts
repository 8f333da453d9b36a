// The lab bench:scale and bench:floor build: a stack (the million by default) scaled to N
// connections, with names and addresses of its own, as the engine-free runner's steps; and the
// guards every such run has: teardown on a signal, a hard time bound and a MemAvailable floor.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";
import { MASQUERADE_POOL, type CapacityPlan } from "../shared/plan.js";
import type { Jitter } from "../shared/protocol.js";
import { NAT_FILL_WARN, planCapacity, type HostFacts } from "../infra/plan/capacity.js";
import { readStackConfig } from "../infra/config/stackFile.js";
import { readHostFacts } from "../infra/plan/readFacts.js";
import { parseLabConfig, type LabConfig } from "../infra/config/schema.js";
import { ensureLocalNodeBase } from "../infra/direct/localBase.js";
import { labDown } from "../infra/direct/runner.js";
import { labSteps, type LabSteps } from "../infra/server/netns/steps.js";
import { localLabPaths } from "../infra/install/stage.js";
import { UsageError, parseIntOption } from "../workload/cliArgs.js";

const BENCH_SERVER = {
  namespace: "c1m-bench",
  hostInterface: "c1m-bench-h",
  interface: "c1m-bench-s",
  hostAddress: "10.201.250.1/24",
  primaryAddress: "10.201.250.2/24",
};
const BENCH_CLIENT_SUBNET = "172.30.250.0/24";

export const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** The flags every scaled-lab bench takes (parseFlags options; each bench adds its own). */
export const SCALED_LAB_FLAGS = {
  connections: { type: "string" },
  "per-container": { type: "string" },
  "server-ips": { type: "string" },
  "timeout-seconds": { type: "string" },
  "base-image": { type: "string" },
  "min-available-mib": { type: "string", default: "1536" },
  stack: { type: "string", default: "million" },
  help: { type: "boolean", default: false },
} as const;

type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A whole-number flag ≥ min, or undefined when not given. */
export function intFlag(values: FlagValues, flag: string, min: number): number | undefined {
  const raw = values[flag];
  return typeof raw === "string" ? parseIntOption(`--${flag}`, raw, { min }) : undefined;
}

export interface ScaleRequest {
  connections: number;
  /** Most connections per container (default: the stack's connectionsPerContainer). */
  perContainer?: number;
  /** Default: the stack's connections per address, NAT paths ≤ 90% full. */
  serverIps?: number;
  stack: string;
  baseImage?: string;
  minAvailableMib: number;
  /** More of the config's test section, over the stack's (bench:scale: soak, timeout, storm). */
  test?: Record<string, unknown>;
  /** The clients' reconnect jitter, over the stack's (bench:scale --storm). */
  jitter?: Jitter;
}

/** The shared flags as a request; --timeout-seconds goes into its test section. */
export function scaleRequestOf(values: FlagValues): ScaleRequest {
  const connections = intFlag(values, "connections", 1);
  if (connections === undefined) throw new UsageError("--connections is required");
  const timeoutSeconds = intFlag(values, "timeout-seconds", 1);
  const perContainer = intFlag(values, "per-container", 1);
  const serverIps = intFlag(values, "server-ips", 1);
  const baseImage = values["base-image"];
  return {
    connections,
    ...(perContainer !== undefined ? { perContainer } : {}),
    ...(serverIps !== undefined ? { serverIps } : {}),
    stack: String(values.stack),
    ...(typeof baseImage === "string" ? { baseImage } : {}),
    minAvailableMib: intFlag(values, "min-available-mib", 0)!,
    test: timeoutSeconds !== undefined ? { timeoutSeconds } : {},
  };
}

export interface ScaledLab {
  /** bench-<stack>: the Docker label and state directory of the run. */
  stack: string;
  config: LabConfig;
  plan: CapacityPlan;
  steps: LabSteps;
  containers: number;
  serverIps: number;
  minAvailableMib: number;
  log: (line: string) => void;
}

/** Flags → config → plan → steps: the stack scaled to N (brings nothing up). */
export function scaledLab(r: ScaleRequest): ScaledLab {
  const raw = readStackConfig(root, r.stack) as Record<string, Record<string, unknown>>;
  const facts = readHostFacts();
  const { config, containers, serverIps } = scaledConfig(raw, r, facts);
  const plan = planCapacity(config, facts);
  const stack = `bench-${r.stack}`;
  const base = labSteps(config, plan, stack, {
    ...localLabPaths(root, stack, { node: process.execPath, home: homedir() }),
    reportsDir: `${root}/reports`,
  });
  const steps = { ...base, image: { ...base.image, baseImage: r.baseImage ?? ensureLocalNodeBase() } };
  const log = (l: string) => process.stderr.write(`bench: ${l}\n`);
  log(
    `${plan.target.toLocaleString("en-US")} connections: ${containers} containers, ${serverIps} server IPs, ${plan.serverWorkers} server workers`,
  );
  return { stack, config, plan, steps, containers, serverIps, minAvailableMib: r.minAvailableMib, log };
}

/**
 * The stack, scaled: containers of ≤ perContainer each; as many connections per server address
 * as the stack has (the million stack: 18,519, one worker each), and NAT paths ≤ 90% full.
 */
function scaledConfig(raw: Record<string, Record<string, unknown>>, r: ScaleRequest, facts: HostFacts) {
  const n = r.connections;
  const stackConfig = parseLabConfig(raw);
  const containers = Math.ceil(n / (r.perContainer ?? stackConfig.clients.connectionsPerContainer));
  const stackPlan = planCapacity(stackConfig, facts);
  const perAddress = Math.ceil(stackPlan.target / stackPlan.serverAddresses.length);
  const serverIps =
    r.serverIps ?? Math.max(Math.ceil(n / Math.floor(MASQUERADE_POOL.size * NAT_FILL_WARN)), Math.ceil(n / perAddress));
  const config = parseLabConfig({
    ...raw,
    // Names and addresses of its own: a running lab of the stack it scales is never touched.
    server: { ...raw.server, ...BENCH_SERVER, secondaryAddresses: { count: serverIps - 1 } },
    clients: {
      ...raw.clients,
      subnet: BENCH_CLIENT_SUBNET,
      containers,
      connectionsPerContainer: Math.ceil(n / containers),
      ...(r.jitter ? { reconnect: { ...(raw.clients?.reconnect as object | undefined), jitter: r.jitter } } : {}),
    },
    test: { ...raw.test, ...r.test },
  });
  return { config, containers, serverIps };
}

/** /proc/meminfo in bytes. */
export function meminfo(): Record<string, number> {
  return Object.fromEntries(
    readFileSync("/proc/meminfo", "utf8")
      .split("\n")
      .map((l) => /^(\w+):\s+(\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, Number(m[2]) * 1024]),
  );
}

/**
 * Arms the run's guards and returns its teardown (idempotent: labDown of the lab's steps, then
 * `after`): run at a signal (exit 130), after `boundSeconds` whatever happens (exit 130), or
 * when MemAvailable falls below the floor (exit 3); the caller runs it in its `finally`.
 */
export function guardLab(lab: ScaledLab, o: { boundSeconds: number; after?: () => void }): () => void {
  let down = false;
  const teardown = () => {
    if (down) return;
    down = true;
    lab.log("tearing down");
    labDown(lab.steps, { log: lab.log });
    o.after?.();
  };
  const onSignal = () => {
    teardown();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const bound = setTimeout(onSignal, o.boundSeconds * 1000);
  bound.unref();
  // A million connections need ~10 GB here: never let the machine run dry.
  const minAvailable = lab.minAvailableMib * 2 ** 20;
  const guard = setInterval(() => {
    const available = meminfo().MemAvailable ?? Infinity;
    if (available < minAvailable) {
      lab.log(`MemAvailable ${Math.round(available / 2 ** 20)} MiB < ${lab.minAvailableMib} MiB: aborting`);
      teardown();
      process.exit(3);
    }
  }, 1000);
  guard.unref();
  return teardown;
}

/** Runs a scaled-lab bench's main: its exit code, or 2 with the error (and the usage after a usage error). */
export function runScaledBench(name: string, usage: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      console.error(`${name}: ${e.message}${e instanceof UsageError ? `\n${usage}` : ""}`);
      process.exitCode = 2;
    },
  );
}
