// The stepping (I/O through injected deps): for each step, poll until the server holds the step's
// target (then hold stepSeconds), or no progress for the stall window, or the ramp's deadline;
// judge it; signal the clients' next step only when it held. Stops at the first broken step.
import { defaultMinProgress, realClock, type Clock, type Poll } from "../wait.js";
import type { Observation } from "../types.js";
import { judgeStep, type StepResult } from "./judge.js";
import { measureStep } from "./measure.js";
import type { FindLimitSettings } from "./settings.js";

export interface FindLimitLoopOptions {
  settings: FindLimitSettings;
  /** The lab's total at each step (shared/findLimit.ts stepTotals). */
  totals: number[];
  /** Bound on each step's ramp. */
  timeoutSeconds: number;
  stallSeconds: number;
  intervalSeconds: number;
}

export interface FindLimitLoopDeps {
  poll: Poll;
  clock?: Clock;
  /** Raises every client's target by one step; resolves to an error message, or null when sent. */
  nextStep: () => Promise<string | null>;
  onObservation?: (o: Observation, target: number) => void;
  onStep?: (r: StepResult) => void;
}

export interface FindLimitRun {
  observations: Observation[];
  steps: StepResult[];
  /** break: a step broke a criterion; ceiling: every step held; signal: the next step could not be started. */
  end: "break" | "ceiling" | "signal";
  /** Why the next step could not be started (end = signal). */
  signalError: string | null;
  /** The step the clients were at when the run began (1 unless the test ran before on these clients). */
  firstStep: number;
}

interface Stepper {
  clock: Clock;
  start: number;
  observations: Observation[];
  deps: FindLimitLoopDeps;
  opts: FindLimitLoopOptions;
}

export async function runFindLimit(opts: FindLimitLoopOptions, deps: FindLimitLoopDeps): Promise<FindLimitRun> {
  const clock = deps.clock ?? realClock;
  const s: Stepper = { clock, start: clock.now(), observations: [], deps, opts };
  const steps: StepResult[] = [];
  // A rerun finds the clients at a later step already: the run starts there.
  const firstStep = stepOfClients(await pollOnce(s, opts.totals[0] ?? 0), opts.totals) ?? 1;
  const done = (end: FindLimitRun["end"], signalError: string | null = null): FindLimitRun => ({
    observations: s.observations,
    steps,
    end,
    signalError,
    firstStep,
  });
  for (let n = firstStep; n <= opts.totals.length; n++) {
    const target = opts.totals[n - 1]!;
    const from = n === firstStep ? 0 : s.observations.length;
    if (n > firstStep) {
      const error = await deps.nextStep();
      if (error !== null) return done("signal", error);
    }
    const reachedIndex = await observeStep(s, target, from);
    const window = {
      step: n,
      target,
      base: s.observations[from - 1] ?? null,
      observations: s.observations.slice(from),
      reachedIndex,
    };
    const result = judgeStep(measureStep(window), opts.settings);
    steps.push(result);
    deps.onStep?.(result);
    if (result.breaks.length > 0) return done("break");
  }
  return done("ceiling");
}

/** Polls one step; returns the index (within the step's polls) where the target was reached, or null. */
async function observeStep(s: Stepper, target: number, from: number): Promise<number | null> {
  const { clock, opts } = s;
  const intervalMs = opts.intervalSeconds * 1000;
  const begin = clock.now();
  const minProgress = defaultMinProgress(target);
  const maxPolls = Math.ceil((opts.timeoutSeconds + opts.settings.stepSeconds) / opts.intervalSeconds) + 4;
  let mark: number | null = null;
  let markAt = begin;
  let holdEnd: number | null = null;
  let reached: number | null = null;
  for (let i = 0; i < maxPolls; i++) {
    // The run's first poll (from = 0) is already in: look at it before polling again.
    const o = i === 0 && from < s.observations.length ? s.observations.at(-1)! : await pollOnce(s, target);
    const now = clock.now();
    const total = o.server?.total ?? null;
    if (reached === null && total !== null && total >= target) {
      reached = s.observations.length - 1 - from;
      holdEnd = now + opts.settings.stepSeconds * 1000;
    }
    if (holdEnd !== null) {
      if (now >= holdEnd) break;
    } else {
      if (total !== null && (mark === null || total >= mark + minProgress)) [mark, markAt] = [total, now];
      // A stalled step still waits for the clients' pending connects: each one's outcome counts.
      const stalled = now - markAt >= opts.stallSeconds * 1000 && inFlight(o) === 0;
      if (stalled || now - begin >= opts.timeoutSeconds * 1000) break;
    }
    await clock.sleep(Math.max(0, Math.min(intervalMs, (holdEnd ?? Infinity) - now)));
  }
  return reached;
}

async function pollOnce(s: Stepper, target: number): Promise<Observation> {
  let seen: Omit<Observation, "t">;
  try {
    seen = await s.deps.poll();
  } catch (err) {
    seen = { server: null, serverError: String(err), clients: null, clientsError: null, conntrack: null, conntrackError: null };
  }
  const o: Observation = { t: Math.round(s.clock.now() - s.start) / 1000, ...seen };
  s.observations.push(o);
  s.deps.onObservation?.(o, target);
  return o;
}

/** Connects the clients still wait on (0 when not known). */
function inFlight(o: Observation): number {
  return (o.clients ?? []).reduce((sum, c) => sum + (c.state === "running" ? (c.status?.inFlight ?? 0) : 0), 0);
}

/** The step whose total the clients' targets add up to, null when they do not tell (no status yet, or no match). */
export function stepOfClients(o: Observation | undefined, totals: number[]): number | null {
  const clients = o?.clients;
  if (!clients || clients.length === 0 || clients.some((c) => c.status === null)) return null;
  const sum = clients.reduce((a, c) => a + c.status!.target, 0);
  const i = totals.indexOf(sum);
  return i < 0 ? null : i + 1;
}
