// Where a ramp's time goes (pure): the phases of `pulumi up` as Docker and the sampler saw them,
// the ramp's timeline in windows, each container's share, and CPU by group over the ramp.
import { CPU_GROUPS, type CpuGroup } from "./procCpu.js";
import type { ContainerFacts } from "./containers.js";
import type { Tick } from "./sampler.js";

export interface Phases {
  /** Seconds since the run started (the sampler's and `lab:up`'s start). */
  firstCreated: number | null;
  firstStarted: number | null;
  lastStarted: number | null;
  firstConnection: number | null;
  /** The first tick whose server total reached the target. */
  targetReached: number | null;
  upDone: number | null;
  /** firstStarted → targetReached. */
  wholeRamp: number | null;
}

export interface Window {
  from: number;
  to: number;
  total: number | null;
  connectsPerSecond: number | null;
  containers: number;
  cores: Record<CpuGroup | "softirq" | "idle", number>;
  listenDrops: number;
  listenOverflows: number;
  synRetrans: number;
  insertFailed: number;
}

export interface ContainerRow {
  name: string;
  created: number;
  startDelay: number | null;
  firstConnectAfterStart: number | null;
  rampSeconds: number | null;
  reachedAt: number | null;
}

export interface Breakdown {
  target: number;
  phases: Phases;
  windows: Window[];
  containers: ContainerRow[];
  /** CPU core-seconds per group over the whole ramp, and the machine's busy share. */
  rampCpu: { coreSeconds: Record<CpuGroup | "softirq", number>; busyShare: number } | null;
  rampTotals: { listenDrops: number; listenOverflows: number; synRetrans: number; insertFailed: number } | null;
}

const sec = (epochMs: number, t0: number): number => Math.round((epochMs - t0) / 100) / 10;

export function containerRows(containers: ContainerFacts[], t0: number): ContainerRow[] {
  return containers.map((c) => {
    const first = c.points.find((p) => p.established > 0);
    const ramp = c.points.find((p) => p.rampSeconds !== null)?.rampSeconds ?? null;
    return {
      name: c.name,
      created: sec(c.createdAt, t0),
      startDelay: c.startedAt === null ? null : Math.round((c.startedAt - c.createdAt) / 100) / 10,
      firstConnectAfterStart: first && c.startedAt !== null ? Math.round((first.at - c.startedAt) / 100) / 10 : null,
      rampSeconds: ramp,
      reachedAt: ramp !== null && c.startedAt !== null ? sec(c.startedAt + ramp * 1000, t0) : null,
    };
  });
}

export function phasesOf(ticks: Tick[], containers: ContainerFacts[], target: number, t0: number, upDone: number | null): Phases {
  const starts = containers.map((c) => c.startedAt).filter((s): s is number => s !== null);
  const firsts = containers.flatMap((c) =>
    c.points
      .filter((p) => p.established > 0)
      .slice(0, 1)
      .map((p) => p.at),
  );
  const min = (xs: number[]) => (xs.length ? sec(Math.min(...xs), t0) : null);
  const max = (xs: number[]) => (xs.length ? sec(Math.max(...xs), t0) : null);
  const firstStarted = min(starts);
  const targetReached = ticks.find((k) => (k.server?.total ?? 0) >= target)?.t ?? null;
  return {
    firstCreated: min(containers.map((c) => c.createdAt)),
    firstStarted,
    lastStarted: max(starts),
    firstConnection: min(firsts),
    targetReached,
    upDone,
    wholeRamp: firstStarted !== null && targetReached !== null ? Math.round((targetReached - firstStarted) * 10) / 10 : null,
  };
}

/** Sums of the ticks in (from, to]: CPU averaged, counters as differences. */
export function windowOf(ticks: Tick[], from: number, to: number, maxCores: number): Window {
  const inside = ticks.filter((k) => k.t > from && k.t <= to);
  const before = [...ticks].reverse().find((k) => k.t <= from) ?? inside[0];
  const last = inside[inside.length - 1] ?? before;
  const avg = (f: (k: Tick) => number) => (inside.length ? inside.reduce((s, k) => s + f(k), 0) / inside.length : 0);
  const diff = (f: (k: Tick) => number | undefined) => Math.max(0, (last ? (f(last) ?? 0) : 0) - (before ? (f(before) ?? 0) : 0));
  const cores = Object.fromEntries(CPU_GROUPS.map((g) => [g, avg((k) => k.cores[g])])) as Window["cores"];
  cores.softirq = avg((k) => k.softirqCores);
  cores.idle = Math.max(0, maxCores - avg((k) => k.busyCores));
  const total = last?.server?.total ?? null;
  const prevTotal = before?.server?.total ?? null;
  return {
    from,
    to,
    total,
    connectsPerSecond:
      total !== null && prevTotal !== null && last && before && last.t > before.t
        ? Math.round((total - prevTotal) / (last.t - before.t))
        : null,
    containers: last?.containers ?? 0,
    cores,
    listenDrops: diff((k) => k.server?.listenDrops),
    listenOverflows: diff((k) => k.server?.listenOverflows),
    synRetrans: diff((k) => k.synRetrans),
    insertFailed: diff((k) => k.conntrack?.insertFailed),
  };
}

export function breakdownOf(
  ticks: Tick[],
  containers: ContainerFacts[],
  target: number,
  t0: number,
  upDone: number | null,
  maxCores: number,
  windowSeconds = 5,
): Breakdown {
  const phases = phasesOf(ticks, containers, target, t0, upDone);
  const windows: Window[] = [];
  const from = phases.firstStarted ?? phases.firstCreated;
  const to = phases.targetReached ?? ticks[ticks.length - 1]?.t ?? null;
  if (from !== null && to !== null) {
    const start = Math.floor(from / windowSeconds) * windowSeconds - windowSeconds;
    for (let a = start; a < to + windowSeconds; a += windowSeconds) windows.push(windowOf(ticks, a, a + windowSeconds, maxCores));
  }
  let rampCpu: Breakdown["rampCpu"] = null;
  let rampTotals: Breakdown["rampTotals"] = null;
  if (from !== null && to !== null && to > from) {
    const w = windowOf(ticks, from, to, maxCores);
    const span = to - from;
    const coreSeconds = Object.fromEntries(
      [...CPU_GROUPS, "softirq" as const].map((g) => [g, Math.round(w.cores[g] * span * 10) / 10]),
    ) as Record<CpuGroup | "softirq", number>;
    rampCpu = { coreSeconds, busyShare: Math.round(((maxCores - w.cores.idle) / maxCores) * 1000) / 1000 };
    rampTotals = {
      listenDrops: w.listenDrops,
      listenOverflows: w.listenOverflows,
      synRetrans: w.synRetrans,
      insertFailed: w.insertFailed,
    };
  }
  return { target, phases, windows, containers: containerRows(containers, t0), rampCpu, rampTotals };
}
