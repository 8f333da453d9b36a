// The reconnect storm's numbers (pure), from the polls around a server restart: how long the
// restart took, when every connection was back, the handshake rate at the server's listeners
// and its peak, the listeners' drops, and what never came back.
//
// "Handshakes/s at the listeners" is Δ(PassiveOpens + ListenDrops) per second between two polls of
// the server namespace's counters: PassiveOpens counts handshakes the listeners completed,
// ListenDrops the SYNs and handshakes they dropped. It is not every SYN on the wire: a SYN that
// finds no listener (the gap while the server restarts) is answered with a reset and counted in
// neither, and a dropped SYN the client sends again counts each time. Its resolution is the poll
// interval.
import type { KernelStats } from "../../../shared/protocol.js";
import type { ClientObservation, Observation } from "../types.js";

/** One poll of the storm; `t` is seconds since the restart began (the first is the poll just before it, at 0). */
export type StormObservation = Observation;

export interface StormRun {
  observations: StormObservation[];
  /** Seconds the restart script ran; null if it had not finished when the storm ended. */
  restartSeconds: number | null;
  /** Why the restart failed (its exit and last stderr lines), null when it worked. */
  restartError: string | null;
  /** Index in observations of the first poll that began after the new server listened, null if none. */
  firstAfterRestart: number | null;
  maxRecoverySeconds: number;
  /** Where the storm's polls started: the clients' last view before it (their counters' base). */
  clientsBefore: ClientObservation[] | null;
}

export interface StormPoint {
  t: number;
  total: number | null;
  /** Δ(PassiveOpens + ListenDrops)/Δt since the previous poll with counters; null without them. */
  handshakesPerSecond: number | null;
}

export interface StormSummary {
  target: number;
  maxRecoverySeconds: number;
  restartSeconds: number | null;
  restartError: string | null;
  /** Seconds from the restart to the first poll with every connection back; null: not within the bound. */
  recoverySeconds: number | null;
  /** The poll interval: recoverySeconds is a poll's time, up to this late. */
  resolutionSeconds: number;
  /** The server's total at the last poll, and the lowest seen after the restart. */
  finalTotal: number | null;
  lowestTotal: number | null;
  /** target - finalTotal when the storm ended without all back (0 when all came back). */
  lostForGood: number;
  /** Peak handshakes/s at the listeners and when (see the file comment); null without kernel counters. */
  peakHandshakesPerSecond: number | null;
  peakAt: number | null;
  /** Counter increases over the storm (the server namespace's; null without kernel counters). */
  kernel: Pick<KernelStats, "passiveOpens" | "listenDrops" | "listenOverflows" | "reqQFullDrops" | "syncookiesSent"> | null;
  /** Over the clients' status lines: drops and reconnects during the storm, reconnects still waiting at the end. */
  clients: { dropped: number; reconnected: number; reconnecting: number } | null;
  series: StormPoint[];
}

const KERNEL_KEYS = ["passiveOpens", "listenDrops", "listenOverflows", "reqQFullDrops", "syncookiesSent"] as const;

export function summarizeStorm(run: StormRun, target: number, resolutionSeconds: number): StormSummary {
  const obs = run.observations;
  const after = run.firstAfterRestart === null ? [] : obs.slice(run.firstAfterRestart);
  const back = after.find((o) => o.server !== null && o.server.total >= target);
  const withServer = obs.filter((o) => o.server !== null);
  const last = withServer.at(-1)?.server ?? null;
  const totalsAfterStart = obs.slice(1).flatMap((o) => (o.server ? [o.server.total] : []));
  const finalTotal = last?.total ?? null;
  const series = handshakeSeries(obs);
  const peak = series.reduce<StormPoint | null>(
    (best, p) =>
      p.handshakesPerSecond !== null && (best === null || p.handshakesPerSecond > best.handshakesPerSecond!) ? p : best,
    null,
  );
  return {
    target,
    maxRecoverySeconds: run.maxRecoverySeconds,
    restartSeconds: run.restartSeconds,
    restartError: run.restartError,
    recoverySeconds: back ? round1(back.t) : null,
    resolutionSeconds,
    finalTotal,
    lowestTotal: totalsAfterStart.length > 0 ? Math.min(...totalsAfterStart) : null,
    lostForGood: back ? 0 : Math.max(0, target - (finalTotal ?? 0)),
    peakHandshakesPerSecond: peak ? Math.round(peak.handshakesPerSecond!) : null,
    peakAt: peak?.t ?? null,
    kernel: kernelDelta(withServer.map((o) => o.server!.kernel)),
    clients: clientCounters(run.clientsBefore, [...obs].reverse().find((o) => o.clients !== null)?.clients ?? null),
    series,
  };
}

/** Per poll with kernel counters, the rate since the previous such poll. */
export function handshakeSeries(obs: StormObservation[]): StormPoint[] {
  let prev: { t: number; n: number } | null = null;
  return obs.map((o) => {
    const k = o.server?.kernel;
    const point: StormPoint = { t: o.t, total: o.server?.total ?? null, handshakesPerSecond: null };
    if (!k) return point;
    const n = k.passiveOpens + k.listenDrops;
    if (prev !== null && o.t > prev.t) point.handshakesPerSecond = round1(Math.max(0, n - prev.n) / (o.t - prev.t));
    prev = { t: o.t, n };
    return point;
  });
}

function kernelDelta(readings: Array<KernelStats | undefined>): StormSummary["kernel"] {
  const present = readings.filter((k): k is KernelStats => k !== undefined);
  const first = present[0];
  const last = present.at(-1);
  if (!first || !last) return null;
  return Object.fromEntries(KERNEL_KEYS.map((key) => [key, Math.max(0, last[key] - first[key])])) as StormSummary["kernel"];
}

/** Drops and reconnects since `before`, per client name (a client not seen before counts from 0). */
export function clientCounters(before: ClientObservation[] | null, after: ClientObservation[] | null): StormSummary["clients"] {
  if (after === null) return null;
  const base = new Map((before ?? []).map((c) => [c.name, c.status]));
  let dropped = 0;
  let reconnected = 0;
  let reconnecting = 0;
  for (const c of after) {
    const b = base.get(c.name);
    dropped += (c.status?.dropped ?? 0) - (b?.dropped ?? 0);
    reconnected += (c.status?.reconnected ?? 0) - (b?.reconnected ?? 0);
    reconnecting += c.status?.reconnecting ?? 0;
  }
  return { dropped: Math.max(0, dropped), reconnected: Math.max(0, reconnected), reconnecting };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
