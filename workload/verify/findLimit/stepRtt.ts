// The round trips of one step's hold (pure): each client's histogram at the step's end minus the
// one at its target, merged, and the pings that came due without an echo in between.
import { rttPercentiles, rttSince, type RttPercentiles } from "../../rttHistogram.js";
import type { ClientObservation } from "../types.js";

export interface StepRtt {
  /** Pings due an answer during the hold, and those that got none in time. */
  pings: number;
  unanswered: number;
  percentiles: RttPercentiles | null;
}

export function stepRtt(start: ClientObservation[] | null, end: ClientObservation[]): StepRtt | null {
  const before = new Map((start ?? []).map((c) => [c.name, c.status?.rtt ?? null]));
  const pairs: Array<{ end: string; start: string | null }> = [];
  let pings = 0;
  let echoes = 0;
  for (const c of end) {
    const now = c.status?.rtt;
    if (!now) continue;
    const was = before.get(c.name) ?? null;
    const restarted = was !== null && now.pings < was.pings;
    const base = restarted ? null : was;
    pings += now.pings - (base?.pings ?? 0);
    echoes += now.echoes - (base?.echoes ?? 0);
    pairs.push({ end: now.histogram, start: base?.histogram ?? null });
  }
  if (pairs.length === 0) return null;
  const { merged } = rttSince(pairs);
  return { pings, unanswered: Math.max(0, pings - echoes), percentiles: rttPercentiles(merged) };
}
