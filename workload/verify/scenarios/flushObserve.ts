// The conntrack flush's I/O: one poll, the delete of the lab's entries, then a poll every interval
// until the connections have been watched long enough (every one pinged since and its answer was
// due) with all of them held or back, or maxRecoverySeconds has passed; then the lab's entries
// are counted again. The clock, the poller and the conntrack tool are injected.
import type { Clock, Poll } from "../wait.js";
import type { ClientObservation, Observation } from "../types.js";
import { pollSafe } from "./reconnectStorm.js";
import type { LabEntries } from "./conntrackTool.js";
import { allHeld, type FlushRun } from "./flushMeasure.js";

export interface FlushOptions {
  target: number;
  maxRecoverySeconds: number;
  /** Watch at least this long (capped by maxRecoverySeconds). */
  minObserveSeconds: number;
  intervalSeconds: number;
}

export interface FlushIo {
  poll: Poll;
  clock: Clock;
  entries: LabEntries;
  /** Each poll, `t` in seconds since the delete began. */
  onObservation: (o: Observation) => void;
}

export async function runFlush(opts: FlushOptions, io: FlushIo, clientsBefore: ClientObservation[] | null): Promise<FlushRun> {
  const { clock } = io;
  const before = await pollSafe(io.poll);
  const start = clock.now();
  const observations: Observation[] = [{ ...before, t: 0 }];
  io.onObservation(observations[0]!);
  const del = await io.entries("delete");
  // The base of the clients' counters: their lines at the delete, else the hold's last.
  const base = { maxRecoverySeconds: opts.maxRecoverySeconds, clientsBefore: before.clients ?? clientsBefore };
  if (del.error !== null) return { ...base, observations, deleted: null, deleteError: del.error, entriesAfter: null };
  const minMs = Math.min(opts.minObserveSeconds, opts.maxRecoverySeconds) * 1000;
  const endAt = start + opts.maxRecoverySeconds * 1000;
  // Bound on polls whatever the clock does.
  const maxPolls = Math.ceil(opts.maxRecoverySeconds / opts.intervalSeconds) + 2;
  for (let i = 1; i <= maxPolls; i++) {
    await clock.sleep(Math.max(0, start + i * opts.intervalSeconds * 1000 - clock.now()));
    const now = clock.now();
    const o: Observation = { ...(await pollSafe(io.poll)), t: Math.round(now - start) / 1000 };
    observations.push(o);
    io.onObservation(o);
    if (now - start >= minMs && allHeld(o, opts.target)) break;
    if (now >= endAt) break;
  }
  const after = await io.entries("count");
  return { ...base, observations, deleted: del.entries, deleteError: null, entriesAfter: after.entries };
}
