// One step as the polls saw it (pure): what the server held, the clients' connects and failures
// since the step began, the round trips of its hold, the server's lowest MemAvailable and its
// busiest worker. Cumulative counters are taken as differences from the poll before the step.
import type { FailureClass } from "../../../shared/protocol.js";
import { FAILURE_CLASSES } from "../../../shared/protocol.js";
import type { ClientObservation, Observation } from "../types.js";
import { stepRtt, type StepRtt } from "./stepRtt.js";

export interface StepMeasure {
  /** 1-based. */
  step: number;
  target: number;
  /** The server's total at the step's end; null when /stats did not answer then. */
  held: number | null;
  /** Whether the server's total reached the target during the step. */
  reached: boolean;
  /** Seconds from the step's start to its target, null when not reached. */
  rampSeconds: number | null;
  /** Seconds from the target to the step's end (0 when not reached). */
  holdSeconds: number;
  /** The clients' connects during the step; null when the client view was not read. */
  clients: { attempted: number; failed: number; failedBy: Record<FailureClass, number>; dropped: number } | null;
  rtt: StepRtt | null;
  /** The server host's lowest MemAvailable during the step, null when not reported. */
  memAvailableMinBytes: number | null;
  /** The server worker that used the most CPU over the hold (over the step when not reached), in cores. */
  busiestWorker: { pid: number; cpu: number } | null;
}

export interface StepWindow {
  step: number;
  target: number;
  /** The last poll before the step began (its counters are the base); null for the first step (zero). */
  base: Observation | null;
  /** The step's polls, in order. */
  observations: Observation[];
  /** Index in observations of the first poll at or above the target, null when never. */
  reachedIndex: number | null;
}

export function measureStep(w: StepWindow): StepMeasure {
  const obs = w.observations;
  const first = obs[0];
  const last = obs[obs.length - 1];
  const reachedAt = w.reachedIndex === null ? null : obs[w.reachedIndex]!;
  const startT = w.base?.t ?? first?.t ?? 0;
  const holdFrom = reachedAt ?? w.base ?? first ?? null;
  const lastClients = lastWithClients(obs);
  return {
    step: w.step,
    target: w.target,
    held: last?.server?.total ?? null,
    reached: reachedAt !== null,
    rampSeconds: reachedAt === null ? null : round(reachedAt.t - startT),
    holdSeconds: reachedAt === null || !last ? 0 : round(last.t - reachedAt.t),
    clients: lastClients ? clientDelta(clientsOf(w.base), lastClients) : null,
    rtt: lastClients ? stepRtt(clientsBefore(obs, w.reachedIndex) ?? clientsOf(w.base), lastClients) : null,
    memAvailableMinBytes: minMemAvailable(obs),
    busiestWorker: holdFrom && last ? busiestWorker(holdFrom, last) : null,
  };
}

function lastWithClients(obs: Observation[]): ClientObservation[] | null {
  for (let i = obs.length - 1; i >= 0; i--) if (obs[i]!.clients !== null) return obs[i]!.clients;
  return null;
}

function clientsOf(o: Observation | null): ClientObservation[] | null {
  return o?.clients ?? null;
}

/** The clients' view at the step's target (or the latest before it), where the hold's round trips start. */
function clientsBefore(obs: Observation[], index: number | null): ClientObservation[] | null {
  if (index === null) return null;
  return lastWithClients(obs.slice(0, index + 1));
}

function clientDelta(before: ClientObservation[] | null, after: ClientObservation[]): NonNullable<StepMeasure["clients"]> {
  const prior = new Map((before ?? []).map((c) => [c.name, c.status]));
  const failedBy = Object.fromEntries(FAILURE_CLASSES.map((k) => [k, 0])) as Record<FailureClass, number>;
  let attempted = 0;
  let dropped = 0;
  for (const c of after) {
    const now = c.status;
    if (!now) continue;
    const was = prior.get(c.name) ?? null;
    // A restarted client counts from zero again: a negative difference means "since its restart".
    const since = (a: number, b: number | undefined) => (b === undefined || a < b ? a : a - b);
    attempted += since(now.attempted, was?.attempted);
    dropped += since(now.dropped, was?.dropped);
    for (const k of FAILURE_CLASSES) failedBy[k] += since(now.failed[k], was?.failed[k]);
  }
  const failed = FAILURE_CLASSES.reduce((s, k) => s + failedBy[k], 0);
  return { attempted, failed, failedBy, dropped };
}

function minMemAvailable(obs: Observation[]): number | null {
  const values = obs.flatMap((o) =>
    (o.server?.kernel?.memAvailableBytes ?? null) === null ? [] : [o.server!.kernel!.memAvailableBytes!],
  );
  return values.length === 0 ? null : Math.min(...values);
}

/** Each worker's CPU seconds between two polls over the seconds between them; the largest. */
function busiestWorker(from: Observation, to: Observation): StepMeasure["busiestWorker"] {
  const dt = to.t - from.t;
  const before = new Map((from.server?.perWorker ?? []).map((w) => [w.pid, w.cpuSeconds]));
  let best: StepMeasure["busiestWorker"] = null;
  if (dt <= 0) return null;
  for (const w of to.server?.perWorker ?? []) {
    const a = before.get(w.pid);
    if (a === undefined || w.cpuSeconds === undefined || w.cpuSeconds < a) continue;
    const cpu = round((w.cpuSeconds - a) / dt);
    if (best === null || cpu > best.cpu) best = { pid: w.pid, cpu };
  }
  return best;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
