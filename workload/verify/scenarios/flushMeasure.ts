// The conntrack flush's numbers (pure), from the polls around the delete of the lab's NAT entries:
// what the server and the clients held, dropped and got back, the pings sent since and how many
// went unanswered (and their round trips), and the NAT host's conntrack insert failures.
import { rttPercentiles, rttSince, type RttPercentiles } from "../../rttHistogram.js";
import type { ClientObservation, ConntrackReading, Observation } from "../types.js";
import { clientCounters } from "./stormMeasure.js";

export interface FlushRun {
  /** The poll just before the delete (t 0), then the polls after it. */
  observations: Observation[];
  /** Entries the delete removed; null when it failed (deleteError). */
  deleted: number | null;
  deleteError: string | null;
  /** The lab's entries when the watch ended (the NAT state made again); null when not counted. */
  entriesAfter: number | null;
  maxRecoverySeconds: number;
  /** The clients' view at the delete (their counters' base). */
  clientsBefore: ClientObservation[] | null;
}

export interface FlushSummary {
  target: number;
  maxRecoverySeconds: number;
  deleted: number | null;
  deleteError: string | null;
  entriesAfter: number | null;
  /** Seconds from the delete to the last poll. */
  observedSeconds: number;
  /** The server's count before the delete, the lowest after it, and at the last poll. */
  totalBefore: number | null;
  lowestTotal: number | null;
  finalTotal: number | null;
  /** The clients' established connections at the last poll; null without a client view. */
  clientsHeld: number | null;
  /** The server's count above the clients' at the end: server sockets whose client gave up on them. */
  halfOpenAtServer: number | null;
  /** Short of the target at the end, held on both sides (the server's count, at most the clients'); 0 when all held or came back. */
  lostForGood: number;
  /** The first poll with every connection held again after the last one short of it (server or clients); null when none was short, or not back. */
  backAfterSeconds: number | null;
  /** Over the clients' status lines since the delete; null without a client view. */
  clients: { dropped: number; reconnected: number; reconnecting: number } | null;
  /** Pings due an answer since the delete, and those that got none; null when the clients report no round trips. */
  pings: { sent: number; unanswered: number; percentiles: RttPercentiles | null } | null;
  /** Conntrack counter increases over the watch (this machine's, all of its table); null when not read. */
  conntrack: { insertFailed: number; drop: number; earlyDrop: number } | null;
}

export function summarizeFlush(run: FlushRun, target: number): FlushSummary {
  const obs = run.observations;
  const after = obs.slice(1);
  const totals = after.flatMap((o) => (o.server ? [o.server.total] : []));
  const finalTotal = [...after].reverse().find((o) => o.server !== null)?.server?.total ?? null;
  const lastClients = [...after].reverse().find((o) => o.clients !== null)?.clients ?? null;
  const clientsHeld = lastClients === null || lastClients.length === 0 ? null : established(lastClients);
  // What both sides still hold: a connection the server holds but its client gave up is not held.
  const held = finalTotal === null ? 0 : Math.min(finalTotal, clientsHeld ?? finalTotal);
  return {
    target,
    maxRecoverySeconds: run.maxRecoverySeconds,
    deleted: run.deleted,
    deleteError: run.deleteError,
    entriesAfter: run.entriesAfter,
    observedSeconds: obs.at(-1)?.t ?? 0,
    totalBefore: obs[0]?.server?.total ?? null,
    lowestTotal: totals.length > 0 ? Math.min(...totals) : null,
    finalTotal,
    clientsHeld,
    halfOpenAtServer: finalTotal !== null && clientsHeld !== null ? Math.max(0, finalTotal - clientsHeld) : null,
    lostForGood: run.deleteError !== null || after.length === 0 ? 0 : Math.max(0, target - held),
    backAfterSeconds: backAfter(after, target),
    clients: after.length > 0 ? clientCounters(run.clientsBefore, lastClients) : null,
    pings: after.length > 0 ? pingsSince(run.clientsBefore, lastClients) : null,
    conntrack: conntrackDelta(obs.flatMap((o) => (o.conntrack ? [o.conntrack] : []))),
  };
}

/** The server holds the target and the clients' lines agree, none still reconnecting. */
export function allHeld(o: Observation, target: number): boolean {
  if (o.server === null || o.server.total < target) return false;
  if (!o.clients || o.clients.length === 0) return true;
  return established(o.clients) >= target && o.clients.every((c) => (c.status?.reconnecting ?? 0) === 0);
}

function established(clients: ClientObservation[]): number {
  return clients.reduce((a, c) => a + (c.status?.established ?? 0), 0);
}

/** The poll after the last one that was short of the target; null when none was short, or the last was. */
function backAfter(after: Observation[], target: number): number | null {
  let lastShort = -1;
  after.forEach((o, i) => {
    if (!allHeld(o, target)) lastShort = i;
  });
  if (lastShort < 0 || lastShort === after.length - 1) return null;
  return after[lastShort + 1]!.t;
}

/** Pings and unanswered ones since `before`, per client name; round trips from the histograms' difference. */
function pingsSince(before: ClientObservation[] | null, after: ClientObservation[] | null): FlushSummary["pings"] {
  const reporting = (after ?? []).filter((c) => c.status?.rtt !== undefined);
  if (reporting.length === 0) return null;
  const base = new Map((before ?? []).map((c) => [c.name, c.status?.rtt]));
  let sent = 0;
  let unanswered = 0;
  const pairs = reporting.map((c) => {
    const end = c.status!.rtt!;
    const start = base.get(c.name);
    sent += end.pings - (start?.pings ?? 0);
    unanswered += end.pings - end.echoes - ((start?.pings ?? 0) - (start?.echoes ?? 0));
    return { end: end.histogram, start: start?.histogram ?? null };
  });
  return { sent: Math.max(0, sent), unanswered: Math.max(0, unanswered), percentiles: rttPercentiles(rttSince(pairs).merged) };
}

function conntrackDelta(readings: ConntrackReading[]): FlushSummary["conntrack"] {
  const first = readings[0];
  const last = readings.at(-1);
  if (!first || !last) return null;
  const d = (k: "insertFailed" | "drop" | "earlyDrop") => Math.max(0, last[k] - first[k]);
  return { insertFailed: d("insertFailed"), drop: d("drop"), earlyDrop: d("earlyDrop") };
}
