// Sums worker reports into the ServerStats the primary serves (pure, unit-tested).
import type { ServerStats } from "../../shared/protocol.js";
import { firstPorts, newPortBitmap, orInto, sharedPorts, type PortBitmap } from "../portBitmap.js";
import type { GroupReport, WorkerCounters } from "./ipc.js";

export const SAMPLES_PER_LOCAL = 5;

/** ServerStats plus fields the contract allows us to add. */
export interface ServerStatsExtended extends ServerStats {
  /** Connections one worker can hold: open-file soft limit minus a reserve. */
  capacityPerWorker?: number;
  /** The open-file soft limit each worker runs with (from /proc/self/limits). */
  fdSoftLimit?: number;
}

export interface AggregateInput {
  reports: ReadonlyArray<WorkerCounters & { groups: GroupReport[] }>;
  /** Counters of workers that have exited (their connections died with them). */
  retired: { accepted: number; closed: number };
  /** Addresses listened on, always listed in perLocalAddress even at 0. */
  listening: string[];
  acceptRate: number;
  workers: number;
  uptimeSeconds: number;
}

export function aggregateStats(input: AggregateInput): ServerStats {
  let total = 0;
  let accepted = input.retired.accepted;
  let closed = input.retired.closed;
  const merged = new Map<string, Map<string, { count: number; bits: PortBitmap }>>(); // local → remote IP → group
  for (const r of input.reports) {
    total += r.total;
    accepted += r.accepted;
    closed += r.closed;
    for (const g of r.groups) {
      let byRemote = merged.get(g.local);
      if (!byRemote) merged.set(g.local, (byRemote = new Map()));
      let m = byRemote.get(g.remoteIp);
      if (!m) byRemote.set(g.remoteIp, (m = { count: 0, bits: newPortBitmap() }));
      m.count += g.count;
      // A 4-tuple lives in exactly one worker, so OR is the exact union.
      orInto(m.bits, g.bits);
    }
  }

  const perLocalAddress: Record<string, number> = {};
  for (const local of input.listening) perLocalAddress[local] = 0;
  const perRemoteIp: Record<string, number> = {};
  const samples: Record<string, string[]> = {};
  const byRemoteIp = new Map<string, { local: string; bits: PortBitmap }[]>();
  for (const local of [...merged.keys()].sort()) {
    const byRemote = merged.get(local)!;
    let localCount = 0;
    const localSamples: string[] = [];
    for (const remoteIp of [...byRemote.keys()].sort()) {
      const m = byRemote.get(remoteIp)!;
      if (m.count <= 0) continue;
      localCount += m.count;
      perRemoteIp[remoteIp] = (perRemoteIp[remoteIp] ?? 0) + m.count;
      if (localSamples.length < SAMPLES_PER_LOCAL) {
        const host = remoteIp.includes(":") ? `[${remoteIp}]` : remoteIp;
        for (const port of firstPorts(m.bits, SAMPLES_PER_LOCAL - localSamples.length)) localSamples.push(`${host}:${port}`);
      }
      let list = byRemoteIp.get(remoteIp);
      if (!list) byRemoteIp.set(remoteIp, (list = []));
      list.push({ local, bits: m.bits });
    }
    if (localCount > 0 || local in perLocalAddress) perLocalAddress[local] = localCount;
    if (localSamples.length > 0) samples[local] = localSamples;
  }

  const sharedSourcePorts: ServerStats["sharedSourcePorts"] = {};
  for (const [remoteIp, list] of [...byRemoteIp].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    sharedSourcePorts[remoteIp] = sharedPorts(list);
  }

  return {
    total,
    accepted,
    closed,
    acceptRate: input.acceptRate,
    workers: input.workers,
    uptimeSeconds: input.uptimeSeconds,
    perLocalAddress,
    perRemoteIp,
    samples,
    sharedSourcePorts,
  };
}

/** Accepts per second over a sliding window of (time, accepted) samples. */
export class RateWindow {
  private readonly samples: { t: number; v: number }[] = [];
  constructor(private readonly windowMs = 5000) {}

  add(t: number, v: number): void {
    this.samples.push({ t, v });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
  }

  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) return 0;
    return Math.max(0, ((last.v - first.v) * 1000) / (last.t - first.t));
  }
}
