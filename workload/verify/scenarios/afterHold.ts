// What the connection test does after the hold, by test.scenario: nothing (hold), or a reconnect
// storm measured (reconnectStorm.ts → stormMeasure.ts). Only a run that reached its target gets
// a storm: restarting a server that never held the target would measure nothing.
import type { TestScenario } from "../../../shared/protocol.js";
import type { Clock, Poll } from "../wait.js";
import { realClock } from "../wait.js";
import type { Run } from "../types.js";
import { bashRestart, runStorm, type Restart } from "./reconnectStorm.js";
import { summarizeStorm, type StormSummary } from "./stormMeasure.js";
import { stormProgressLine } from "./stormReport.js";

/** The storm polls at least once a second: its peak rate is per poll interval. */
export const STORM_MAX_INTERVAL_SECONDS = 1;

export interface AfterHoldOptions {
  scenario: TestScenario;
  target: number;
  maxRecoverySeconds: number;
  intervalSeconds: number;
  restartScript: string | null;
}

export interface AfterHoldIo {
  poll: Poll;
  clock?: Clock;
  progress: (line: string) => void;
  /** Replaces running restartScript (tests). */
  restart?: Restart;
}

/** null for a plain hold; else the storm's summary, or why it was not run. */
export async function afterHold(
  opts: AfterHoldOptions,
  io: AfterHoldIo,
  run: Run,
): Promise<{ storm: StormSummary | null; notRun: string | null } | null> {
  if (opts.scenario === "hold") return null;
  if (run.stopReason !== "target") return { storm: null, notRun: `the ramp stopped (${run.stopReason}) short of the target` };
  const restart = io.restart ?? (opts.restartScript === null ? null : bashRestart(opts.restartScript));
  if (restart === null) return { storm: null, notRun: "no restart script was given" };
  const intervalSeconds = Math.min(opts.intervalSeconds, STORM_MAX_INTERVAL_SECONDS);
  io.progress(
    `verify: reconnect storm: restarting the server under load; all ${opts.target} back within ${opts.maxRecoverySeconds} s?`,
  );
  let prev: { t: number; n: number } | null = null;
  const clientsBefore = [...run.observations].reverse().find((o) => o.clients !== null)?.clients ?? null;
  const stormRun = await runStorm(
    { target: opts.target, maxRecoverySeconds: opts.maxRecoverySeconds, intervalSeconds, settleSeconds: 5 },
    {
      poll: io.poll,
      clock: io.clock ?? realClock,
      restart,
      onObservation: (o, phase) => {
        io.progress(stormProgressLine(o, opts.target, prev, phase));
        const k = o.server?.kernel;
        if (k) prev = { t: o.t, n: k.passiveOpens + k.listenDrops };
      },
    },
    clientsBefore,
  );
  return { storm: summarizeStorm(stormRun, opts.target, intervalSeconds), notRun: null };
}
