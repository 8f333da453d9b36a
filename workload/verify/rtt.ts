// Round trips of the hold (pure): the clients' HDR histograms merged exactly, the pings that got
// no echo, and whether p99 stays within test.maxRttMs. A ping without an echo counts as a round
// trip longer than any bound: when more than 1% of the pings due an answer got none in time, p99 is
// unbounded whatever the answered ones say (a server that stops reading fails).
import { PING_ANSWER_DUE_SECONDS, PING_HOLD_MARGIN_SECONDS } from "../../shared/protocol.js";
import { mergeRtt, rttPercentiles, type RttPercentiles } from "../rttHistogram.js";
import { fmt, joinAnd } from "./format.js";
import type { ClientObservation } from "./types.js";

export interface RttSummary {
  /** Clients whose status carried round trips. */
  clients: number;
  /** Pings due an answer, echoes received, and the difference (never negative). */
  pings: number;
  echoes: number;
  unanswered: number;
  /** Over the answered pings of every client, in ms; null when none was answered. */
  percentiles: RttPercentiles | null;
  /** The bound on p99 (test.maxRttMs), null when none is set. */
  maxRttMs: number | null;
  /** Clients whose histogram could not be decoded (left out of the merge). */
  undecodable: string[];
}

/** More unanswered pings than this fraction: p99 is unbounded. */
export const UNANSWERED_P99 = 0.01;

/** The clients' last status lines merged; null when no client reported round trips. */
export function summarizeRtt(clients: ClientObservation[] | null, maxRttMs: number | null): RttSummary | null {
  const reporting = (clients ?? []).filter((c) => c.status?.rtt !== undefined);
  if (reporting.length === 0) return null;
  const rtts = reporting.map((c) => c.status!.rtt!);
  const pings = rtts.reduce((sum, r) => sum + r.pings, 0);
  const echoes = rtts.reduce((sum, r) => sum + r.echoes, 0);
  const { merged, undecodable } = mergeRtt(rtts.map((r) => r.histogram));
  return {
    clients: reporting.length,
    pings,
    echoes,
    unanswered: Math.max(0, pings - echoes),
    percentiles: rttPercentiles(merged),
    maxRttMs,
    undecodable: undecodable.map((i) => reporting[i]!.name),
  };
}

/** "p50 0.21 ms · p99 1.4 ms · p99.9 3.2 ms · max 8.0 ms (12,345 round trips)" */
export function rttText(p: RttPercentiles): string {
  return `p50 ${ms(p.p50)} · p99 ${ms(p.p99)} · p99.9 ${ms(p.p999)} · max ${ms(p.max)} (${fmt(p.count)} round trips)`;
}

export function ms(x: number): string {
  return `${x >= 100 ? fmt(x) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ms`;
}

/** Why the hold breaks the p99 bound, in one sentence; null when it holds or no bound is set. */
export function rttBreach(s: RttSummary | null, maxRttMs: number | null): string | null {
  if (maxRttMs === null) return null;
  const bound = `the p99 round-trip bound of ${ms(maxRttMs)} (test.maxRttMs)`;
  if (s === null || s.pings === 0) {
    return `No round trip was measured during the hold, so ${bound} could not be checked: make test.soakSeconds at least clients.ping.intervalSeconds + ${PING_HOLD_MARGIN_SECONDS}.`;
  }
  if (s.unanswered > UNANSWERED_P99 * s.pings) {
    return `${fmt(s.unanswered)} of ${fmt(s.pings)} pings during the hold got no echo within ${PING_ANSWER_DUE_SECONDS} s (more than ${UNANSWERED_P99 * 100}%), so p99 is unbounded, above ${bound}: the server accepts but no longer answers its connections.`;
  }
  if (s.percentiles !== null && s.percentiles.p99 > maxRttMs) {
    return `p99 round trip ${ms(s.percentiles.p99)} is above ${bound} (${rttText(s.percentiles)}).`;
  }
  return null;
}

/** The warnings the summary carries (undecodable histograms). */
export function rttWarnings(s: RttSummary | null): string[] {
  if (s === null || s.undecodable.length === 0) return [];
  return [`round trips of ${joinAnd(s.undecodable)} could not be decoded and are left out of the percentiles.`];
}

/** The stack outputs' `rtt` (ms): null when no client reported round trips. */
export type RttOutput =
  (Partial<RttPercentiles> & { pings: number; echoes: number; unanswered: number; maxRttMs: number | null }) | null;

export function rttOutput(s: RttSummary | null | undefined): RttOutput {
  if (!s) return null;
  return { ...(s.percentiles ?? {}), pings: s.pings, echoes: s.echoes, unanswered: s.unanswered, maxRttMs: s.maxRttMs };
}

/** report.md's section on the hold's round trips. */
export function rttMarkdown(s: RttSummary | null | undefined): string[] {
  const out = ["## Round trips during the hold", ""];
  if (!s) {
    out.push("_No client reported round trips (pings off, or none due during the hold)._", "");
    return out;
  }
  const bound = s.maxRttMs === null ? "no bound set (test.maxRttMs)" : `bound on p99: ${ms(s.maxRttMs)}`;
  out.push(s.percentiles ? `${rttText(s.percentiles)}; ${bound}.` : `No ping was answered; ${bound}.`, "");
  out.push(
    `Pings due an answer: ${fmt(s.pings)} from ${fmt(s.clients)} clients, echoes ${fmt(s.echoes)}, unanswered ${fmt(s.unanswered)}.`,
    "",
  );
  return out;
}
