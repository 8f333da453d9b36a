// The bounded wait: poll until the target is reached (then soak), or no progress for the stall
// window, or the deadline. The clock and the poller are injected so tests drive it with fakes.
import type { Observation, Run, StopReason } from "./types.js";

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** One look at the lab (the loop stamps `t`). Should not throw; if it does, the poll counts as "server unreachable". */
export type Poll = () => Promise<Omit<Observation, "t">>;

export interface WaitOptions {
  target: number;
  timeoutSeconds: number;
  stallSeconds: number;
  soakSeconds: number;
  intervalSeconds: number;
  /**
   * Growth that counts as progress: the server total must rise this much above the last mark
   * within the stall window (default max(1, target/1000)), so a NAT pool's slow trickle of its
   * last free ports reads as the plateau it is.
   */
  minProgress?: number;
  /**
   * After the target (and the soak): poll up to this long more until `settled` says the views
   * agree (the clients print a status line once a second, so their view lags). Default 0.
   */
  settleSeconds?: number;
}

export type Phase = "ramp" | "soak" | "settle";

export interface WaitDeps {
  clock?: Clock;
  poll: Poll;
  /** Called after every poll (progress lines). */
  onObservation?: (o: Observation, phase: Phase) => void;
  /** Whether an observation is final enough to stop on (see settleSeconds); default: always. */
  settled?: (o: Observation) => boolean;
}

export function defaultMinProgress(target: number): number {
  return Math.max(1, Math.floor(target / 1000));
}

export async function waitForRamp(opts: WaitOptions, deps: WaitDeps): Promise<Run> {
  const clock = deps.clock ?? realClock;
  const intervalMs = opts.intervalSeconds * 1000;
  const minProgress = opts.minProgress ?? defaultMinProgress(opts.target);
  const settleSeconds = opts.settleSeconds ?? 0;
  const settled = deps.settled ?? (() => true);
  const start = clock.now();
  const deadline = start + opts.timeoutSeconds * 1000;
  // Hard bound on polls, whatever the clock does: every poll is followed by a sleep of the interval.
  const maxPolls = Math.ceil((opts.timeoutSeconds + opts.soakSeconds + settleSeconds) / opts.intervalSeconds) + 4;

  const observations: Observation[] = [];
  let phase: Phase = "ramp";
  let soakStartIndex: number | null = null;
  let phaseEnd = deadline;
  let mark: number | null = null; // total at the last progress
  let markAt = 0;
  let stopReason: StopReason = "timeout";
  let stopped = false;

  for (let i = 0; i < maxPolls && !stopped; i++) {
    let seen: Omit<Observation, "t">;
    try {
      seen = await deps.poll();
    } catch (err) {
      seen = { server: null, serverError: String(err), clients: null, clientsError: null, conntrack: null, conntrackError: null };
    }
    const now = clock.now();
    const o: Observation = { t: round((now - start) / 1000), ...seen };
    observations.push(o);
    deps.onObservation?.(o, phase);

    const total = o.server?.total ?? null;
    if (phase === "ramp") {
      if (total !== null) {
        if (mark === null || total >= mark + minProgress) {
          mark = total;
          markAt = now;
        }
        if (total >= opts.target) {
          if (opts.soakSeconds > 0) {
            phase = "soak";
            soakStartIndex = observations.length - 1;
            phaseEnd = now + opts.soakSeconds * 1000;
          } else {
            phase = "settle";
            phaseEnd = now + settleSeconds * 1000;
          }
        } else if (now - markAt >= opts.stallSeconds * 1000) {
          stopReason = "stall";
          stopped = true;
        }
      }
      if (phase === "ramp" && !stopped && now >= deadline) {
        stopReason = "timeout";
        stopped = true;
      }
    } else if (phase === "soak" && now >= phaseEnd) {
      phase = "settle";
      phaseEnd = now + settleSeconds * 1000;
    }
    if (phase === "settle" && (settled(o) || now >= phaseEnd)) {
      stopReason = "target";
      stopped = true;
    }
    if (stopped) break;

    // Keep a steady cadence: the next poll at start + (i+1)·interval, never past the end of the phase.
    const next = Math.min(start + (i + 1) * intervalMs, phaseEnd);
    await clock.sleep(Math.max(0, next - clock.now()));
  }
  if (!stopped && phase !== "ramp") stopReason = "target";

  return {
    observations,
    stopReason,
    soakStartIndex,
    soakSeconds: opts.soakSeconds,
    timeoutSeconds: opts.timeoutSeconds,
    stallSeconds: opts.stallSeconds,
    intervalSeconds: opts.intervalSeconds,
  };
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}
