// What the live dashboard shows of the hold (pure): the clients' merged round trips so far.
import { rttOutput, summarizeRtt, type RttOutput } from "./rtt.js";
import type { Observation } from "./types.js";

export interface HoldView {
  /** Merged over the clients' latest status lines; null when none reported round trips. */
  rtt: RttOutput;
}

/** The hold as one poll shows it; `prev` is kept when this poll has no client view. */
export function holdView(o: Observation, prev: HoldView | null): HoldView | null {
  if (o.clients === null) return prev;
  return { rtt: rttOutput(summarizeRtt(o.clients, null)) };
}
