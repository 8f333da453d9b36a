// Was it the server or the load generator? (pure) Each client container's CPU between polls,
// against its share: its CPU limit, and at most one CPU, since a client is one Node process whose
// event loop runs on one core. A client above 80% of its share in any poll interval of the ramp
// or hold limited the result (Stressgrid's rule: past that, the generator's own delays show up
// as the server's). The server's CPU is summed over its processes, its busiest worker named too.
import { markdownTable } from "markdown-table";
import { briefList, percent, seconds } from "./format.js";
import type { Observation } from "./types.js";

/** Above this fraction of its CPU share, a client limited the result. */
export const GENERATOR_LIMIT = 0.8;
/** Poll intervals shorter than this are too noisy to judge a rate on. */
const MIN_INTERVAL_SECONDS = 0.5;

export interface ClientCpu {
  name: string;
  /** CPUs it may use: min(limit, 1). */
  shareCpus: number;
  /** Highest fraction of its share over one poll interval, and when (seconds into the test). */
  peak: number;
  peakAt: number;
  /** Over everything observed. */
  mean: number;
}

export interface HeadroomSummary {
  clients: ClientCpu[];
  /** The clients whose peak passed GENERATOR_LIMIT, busiest first. */
  limited: ClientCpu[];
  /** The server's CPUs in use (all its processes), peak and mean; null when it reports no CPU time. */
  server: { peakCpus: number; meanCpus: number; busiestWorkerPeak: number | null } | null;
}

interface Rate {
  value: number;
  at: number;
  dt: number;
}

/** Rates of a cumulative counter between consecutive readings (a reset, e.g. a restart, is skipped). */
function rates(points: Array<{ t: number; v: number }>): Rate[] {
  const out: Rate[] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const dt = b.t - a.t;
    if (dt >= MIN_INTERVAL_SECONDS && b.v >= a.v) out.push({ value: (b.v - a.v) / dt, at: b.t, dt });
  }
  return out;
}

function peakOf(rs: Rate[]): Rate | null {
  return rs.reduce<Rate | null>((best, r) => (best === null || r.value > best.value ? r : best), null);
}

function meanOf(rs: Rate[]): number {
  const time = rs.reduce((s, r) => s + r.dt, 0);
  return time > 0 ? rs.reduce((s, r) => s + r.value * r.dt, 0) / time : 0;
}

function clientCpus(observations: Observation[]): ClientCpu[] {
  const series = new Map<string, { share: number; points: Array<{ t: number; v: number }> }>();
  for (const o of observations) {
    for (const c of o.clients ?? []) {
      if (!c.cpu) continue;
      const s = series.get(c.name) ?? { share: Math.min(c.cpu.limitCpus ?? 1, 1), points: [] };
      s.points.push({ t: o.t, v: c.cpu.usageSeconds });
      series.set(c.name, s);
    }
  }
  const out: ClientCpu[] = [];
  for (const [name, { share, points }] of series) {
    const rs = rates(points);
    const peak = peakOf(rs);
    if (peak === null) continue;
    out.push({ name, shareCpus: share, peak: peak.value / share, peakAt: peak.at, mean: meanOf(rs) / share });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

function serverCpu(observations: Observation[]): HeadroomSummary["server"] {
  const points = observations.flatMap((o) => (o.server?.cpuSeconds !== undefined ? [{ t: o.t, v: o.server.cpuSeconds }] : []));
  const rs = rates(points);
  const peak = peakOf(rs);
  if (peak === null) return null;
  const workers = new Map<number, Array<{ t: number; v: number }>>();
  for (const o of observations) {
    for (const w of o.server?.perWorker ?? []) {
      if (w.cpuSeconds === undefined) continue;
      workers.set(w.pid, [...(workers.get(w.pid) ?? []), { t: o.t, v: w.cpuSeconds }]);
    }
  }
  const workerPeaks = [...workers.values()].map((p) => peakOf(rates(p))?.value ?? 0);
  return {
    peakCpus: peak.value,
    meanCpus: meanOf(rs),
    busiestWorkerPeak: workerPeaks.length > 0 ? Math.max(...workerPeaks) : null,
  };
}

/** null when neither a client nor the server reported CPU time twice. */
export function summarizeHeadroom(observations: Observation[]): HeadroomSummary | null {
  const clients = clientCpus(observations);
  const server = serverCpu(observations);
  if (clients.length === 0 && server === null) return null;
  const limited = clients.filter((c) => c.peak > GENERATOR_LIMIT).sort((a, b) => b.peak - a.peak);
  return { clients, limited, server };
}

/** "0.5" / "1": CPUs as docker's --cpus writes them. */
export const cpus = (n: number): string => String(Math.round(n * 100) / 100);

/** "The load generator limited the result: c1m-dev-client-1 (95.0% of 1 CPU, 12 s in) ran above ..." or null. */
export function generatorSentence(h: HeadroomSummary | null): string | null {
  if (h === null || h.limited.length === 0) return null;
  const who = briefList(
    h.limited.map((c) => `${c.name} (${percent(c.peak)} of ${cpus(c.shareCpus)} CPU, ${seconds(c.peakAt)} in)`),
  );
  const their = h.limited.length === 1 ? "its" : "their";
  return `The load generator limited the result: ${who} ran above ${GENERATOR_LIMIT * 100}% of ${their} CPU share, where a client's own delays count as the server's.`;
}

/** The stack outputs' `generator`: who limited the result, and each side's peak CPU. */
export interface GeneratorOutput {
  /** Clients above GENERATOR_LIMIT of their CPU share ([] = the generator had headroom). */
  limitedBy: string[];
  /** Per client, its peak fraction of its CPU share. */
  clientCpuPeak: Record<string, number>;
  /** The server's peak CPUs in use, and its busiest worker's peak fraction of one CPU. */
  serverCpuPeak: number | null;
  busiestWorkerPeak: number | null;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export function generatorOutput(h: HeadroomSummary | null | undefined): GeneratorOutput | null {
  if (!h) return null;
  return {
    limitedBy: h.limited.map((c) => c.name),
    clientCpuPeak: Object.fromEntries(h.clients.map((c) => [c.name, round3(c.peak)])),
    serverCpuPeak: h.server ? round3(h.server.peakCpus) : null,
    busiestWorkerPeak: h.server?.busiestWorkerPeak == null ? null : round3(h.server.busiestWorkerPeak),
  };
}

/** report.md's section on the generator's and the server's CPU. */
export function headroomMarkdown(h: HeadroomSummary | null | undefined): string[] {
  const out = ["## Load generator headroom", ""];
  if (!h) return [...out, "_No CPU time read (no client container, and a server that reports none)._", ""];
  if (h.clients.length > 0) {
    const rows = h.clients.map((c) => [
      c.name,
      `${cpus(c.shareCpus)} CPU`,
      `${percent(c.peak)}${c.peak > GENERATOR_LIMIT ? " **(limited)**" : ""}`,
      percent(c.mean),
    ]);
    out.push(markdownTable([["Client", "CPU share", "Peak", "Mean"], ...rows], { align: ["l", "r", "r", "r"] }), "");
  }
  out.push(
    `A client above ${GENERATOR_LIMIT * 100}% of its CPU share (its limit, at most one CPU: one Node event loop) in any poll interval limited the result.`,
    "",
  );
  if (h.server) {
    const worker = h.server.busiestWorkerPeak === null ? "" : `; busiest worker ${percent(h.server.busiestWorkerPeak)} of a CPU`;
    out.push(`Server: ${cpus(h.server.peakCpus)} CPUs at peak, ${cpus(h.server.meanCpus)} on average${worker}.`, "");
  }
  return out;
}
