// verify's find-limit flags (test.mode: find-limit): parsed and checked, or null in hold mode.
import { FIND_LIMIT_DEFAULTS } from "../../../shared/findLimit.js";
import { UsageError, parseIntOption, parseNumberOption } from "../../cliArgs.js";
import type { FindLimitSettings } from "./settings.js";

export const FIND_LIMIT_OPTIONS = {
  mode: { type: "string" },
  "step-connections": { type: "string" },
  "step-seconds": { type: "string" },
  "max-failure-rate": { type: "string" },
  "min-mem-available-mib": { type: "string" },
  "max-worker-cpu": { type: "string" },
} as const;

export const FIND_LIMIT_USAGE = `  --mode MODE              hold (ramp to the plan's target and judge it; default) or find-limit
                           (step the clients up, stop at the first step that breaks a criterion,
                           report the capacity: the clients must run with C1M_STEP_CONNECTIONS)
  --step-connections N     find-limit: connections each step adds (required with find-limit)
  --step-seconds N         find-limit: hold each step this long once reached (default ${FIND_LIMIT_DEFAULTS.stepSeconds});
                           --timeout-seconds and --stall-seconds bound each step's ramp
  --max-failure-rate X     find-limit: a step breaks above this fraction of failed connects (default ${FIND_LIMIT_DEFAULTS.maxFailureRate})
  --min-mem-available-mib N
                           find-limit: a step breaks when the server's MemAvailable falls below N MiB
                           (default ${FIND_LIMIT_DEFAULTS.minMemAvailableMiB}; 0 = not judged)
  --max-worker-cpu X       find-limit: a step breaks when a server worker uses more than X cores
                           over its hold (default ${FIND_LIMIT_DEFAULTS.maxWorkerCpu}; 0 = not judged); --max-rtt-ms bounds each
                           step's p99
`;

type Values = { [K in keyof typeof FIND_LIMIT_OPTIONS]?: string };

/** The settings, or null in hold mode (where a find-limit flag is refused). */
export function parseFindLimit(values: Values, maxRttMs: number | null): FindLimitSettings | null {
  const mode = values.mode ?? "hold";
  if (mode !== "hold" && mode !== "find-limit") throw new UsageError(`--mode: expected hold or find-limit, got "${mode}"`);
  if (mode === "hold") {
    const stray = Object.keys(FIND_LIMIT_OPTIONS).find((k) => k !== "mode" && values[k as keyof Values] !== undefined);
    if (stray) throw new UsageError(`--${stray}: only with --mode find-limit`);
    return null;
  }
  const step = values["step-connections"];
  if (step === undefined) throw new UsageError("--step-connections: required with --mode find-limit");
  const num = (flag: keyof Values, fallback: number, min: number) => {
    const raw = values[flag];
    return raw === undefined ? fallback : parseNumberOption(`--${flag}`, raw, { min });
  };
  const orNull = (x: number) => (x === 0 ? null : x);
  const maxFailureRate = num("max-failure-rate", FIND_LIMIT_DEFAULTS.maxFailureRate, 0);
  if (maxFailureRate >= 1) throw new UsageError(`--max-failure-rate: expected a fraction below 1, got ${maxFailureRate}`);
  return {
    stepConnections: parseIntOption("--step-connections", step, { min: 1 }),
    stepSeconds: num("step-seconds", FIND_LIMIT_DEFAULTS.stepSeconds, 0.1),
    maxFailureRate,
    minMemAvailableMiB: orNull(num("min-mem-available-mib", FIND_LIMIT_DEFAULTS.minMemAvailableMiB, 0)),
    maxWorkerCpu: orNull(num("max-worker-cpu", FIND_LIMIT_DEFAULTS.maxWorkerCpu, 0)),
    maxRttMs,
  };
}
