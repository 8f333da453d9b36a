// What the live dashboard shows of the hold (pure): the clients' merged round trips so far, and
// the CPU of the clients (fraction of their share) and of the server since the previous poll.
import { GENERATOR_LIMIT } from "./headroom.js";
import { rttOutput, summarizeRtt, type RttOutput } from "./rtt.js";
import type { Observation } from "./types.js";

export interface HoldView {
  /** Merged over the clients' latest status lines; null when none reported round trips. */
  rtt: RttOutput;
  /** Since the previous reading; null until two readings. */
  cpu: {
    /** The busiest clients (at most 5), fraction of their CPU share. */
    busiest: Array<{ name: string; share: number }>;
    /** Clients above GENERATOR_LIMIT now. */
    limited: number;
    /** The server's CPUs in use, null when it reports no CPU time. */
    serverCpus: number | null;
  } | null;
  /** The readings the next poll's rates start from. */
  last: { t: number; clients: Record<string, { usage: number; share: number }>; server: number | null } | null;
}

function readings(o: Observation): NonNullable<HoldView["last"]> {
  const clients: Record<string, { usage: number; share: number }> = {};
  for (const c of o.clients ?? [])
    if (c.cpu) clients[c.name] = { usage: c.cpu.usageSeconds, share: Math.min(c.cpu.limitCpus ?? 1, 1) };
  return { t: o.t, clients, server: o.server?.cpuSeconds ?? null };
}

function cpuSince(prev: HoldView["last"], now: NonNullable<HoldView["last"]>): HoldView["cpu"] {
  const dt = prev ? now.t - prev.t : 0;
  if (prev === null || dt <= 0) return null;
  const shares = Object.entries(now.clients).flatMap(([name, c]) => {
    const before = prev.clients[name];
    return before && c.usage >= before.usage ? [{ name, share: (c.usage - before.usage) / dt / c.share }] : [];
  });
  shares.sort((a, b) => b.share - a.share);
  const serverCpus =
    now.server !== null && prev.server !== null && now.server >= prev.server ? (now.server - prev.server) / dt : null;
  return { busiest: shares.slice(0, 5), limited: shares.filter((s) => s.share > GENERATOR_LIMIT).length, serverCpus };
}

/** The hold as one poll shows it (`prev`: the view after the previous poll). */
export function holdView(o: Observation, prev: HoldView | null): HoldView {
  const now = readings(o);
  return {
    rtt: o.clients === null ? (prev?.rtt ?? null) : rttOutput(summarizeRtt(o.clients, null)),
    cpu: cpuSince(prev?.last ?? null, now),
    last: now,
  };
}
