// What the connection test does after the hold, by test.scenario: nothing (hold), a reconnect
// storm measured (reconnectStorm.ts → stormMeasure.ts), or a conntrack flush watched
// (flushObserve.ts → flushMeasure.ts). Only a run that reached its target gets either: a
// scenario on a lab that never held the target would measure nothing.
import { FLUSH_MIN_OBSERVE_SECONDS, type TestScenario } from "../../../shared/protocol.js";
import type { Clock, Poll } from "../wait.js";
import { realClock } from "../wait.js";
import type { Observation, Run } from "../types.js";
import { bashRestart, runStorm, type Restart } from "./reconnectStorm.js";
import { summarizeStorm, type StormSummary } from "./stormMeasure.js";
import { stormProgressLine } from "./stormReport.js";
import { conntrackEntries, type LabEntries } from "./conntrackTool.js";
import { runFlush } from "./flushObserve.js";
import { summarizeFlush, type FlushSummary } from "./flushMeasure.js";
import { flushProgressLine } from "./flushReport.js";

/** The storm and the flush poll at least once a second: the storm's peak rate is per poll interval. */
export const STORM_MAX_INTERVAL_SECONDS = 1;

export interface AfterHoldOptions {
  scenario: TestScenario;
  target: number;
  maxRecoverySeconds: number;
  intervalSeconds: number;
  restartScript: string | null;
  /** conntrack-flush: the lab's client subnets, the only sources whose entries are deleted. */
  flushSources: string[];
}

export interface AfterHoldIo {
  poll: Poll;
  clock?: Clock;
  progress: (line: string) => void;
  /** Replaces running restartScript (tests). */
  restart?: Restart;
  /** Replaces this machine's conntrack tool (tests). */
  labEntries?: LabEntries;
}

/** What the scenario found; `notRun` says why it did not run. */
export interface AfterHold {
  storm?: StormSummary | null;
  conntrackFlush?: FlushSummary | null;
  notRun: string | null;
}

/** null for a plain hold; else the scenario's summary, or why it was not run. */
export async function afterHold(opts: AfterHoldOptions, io: AfterHoldIo, run: Run): Promise<AfterHold | null> {
  if (opts.scenario === "hold") return null;
  const none = opts.scenario === "reconnect-storm" ? { storm: null } : { conntrackFlush: null };
  if (run.stopReason !== "target") return { ...none, notRun: `the ramp stopped (${run.stopReason}) short of the target` };
  const clientsBefore = [...run.observations].reverse().find((o) => o.clients !== null)?.clients ?? null;
  if (opts.scenario === "conntrack-flush") return { conntrackFlush: await flush(opts, io, clientsBefore), notRun: null };
  const restart = io.restart ?? (opts.restartScript === null ? null : bashRestart(opts.restartScript));
  if (restart === null) return { storm: null, notRun: "no restart script was given" };
  const intervalSeconds = Math.min(opts.intervalSeconds, STORM_MAX_INTERVAL_SECONDS);
  io.progress(
    `verify: reconnect storm: restarting the server under load; all ${opts.target} back within ${opts.maxRecoverySeconds} s?`,
  );
  let prev: { t: number; n: number } | null = null;
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

/** Deletes the lab's NAT entries and watches, polling at least once a second. */
async function flush(opts: AfterHoldOptions, io: AfterHoldIo, clientsBefore: Run["observations"][number]["clients"]) {
  io.progress(
    `verify: conntrack flush: deleting this machine's conntrack entries from ${opts.flushSources.join(", ")}; ` +
      `watching the ${opts.target} held connections for up to ${opts.maxRecoverySeconds} s`,
  );
  let base: Observation | null = null;
  const flushRun = await runFlush(
    {
      target: opts.target,
      maxRecoverySeconds: opts.maxRecoverySeconds,
      minObserveSeconds: FLUSH_MIN_OBSERVE_SECONDS,
      intervalSeconds: Math.min(opts.intervalSeconds, STORM_MAX_INTERVAL_SECONDS),
    },
    {
      poll: io.poll,
      clock: io.clock ?? realClock,
      entries: io.labEntries ?? conntrackEntries(opts.flushSources),
      onObservation: (o) => {
        base ??= o;
        io.progress(flushProgressLine(o, opts.target, base));
      },
    },
    clientsBefore,
  );
  return summarizeFlush(flushRun, opts.target);
}
