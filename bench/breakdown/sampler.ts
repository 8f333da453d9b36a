// Once a second during a lab run: CPU by group (per-process deltas, so a process that exits
// takes nothing back), the server's /stats (total and its namespace's TCP counters), the client
// containers' SYN retransmits (each container's own namespace), and this host's conntrack.
import { readFileSync } from "node:fs";
import { fetchStats, readLocalConntrack } from "../../workload/verify/observe.js";
import { CPU_GROUPS, groupOf, namedNetns, parseProcStat, readProcesses, type CpuGroup, type ProcRow } from "./procCpu.js";

export interface Tick {
  /** Seconds since the sampler started. */
  t: number;
  /** CPU cores each group used since the previous tick. */
  cores: Record<CpuGroup, number>;
  softirqCores: number;
  busyCores: number;
  server: {
    total: number;
    passiveOpens: number;
    listenDrops: number;
    listenOverflows: number;
    memAvailableBytes: number | null;
  } | null;
  /** Running client containers (distinct namespaces among Docker's processes). */
  containers: number;
  /** TCPSynRetrans summed over the running client containers' namespaces (cumulative). */
  synRetrans: number;
  conntrack: { count: number; insertFailed: number; drop: number } | null;
}

export interface SamplerOptions {
  serverNamespace: string;
  metricsUrl: string;
  intervalMs?: number;
}

export interface Sampler {
  ticks: Tick[];
  stop(): Promise<void>;
}

function synRetransOf(pid: number): number {
  try {
    const lines = readFileSync(`/proc/${pid}/net/netstat`, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("TcpExt:"));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    return Number(values[names.indexOf("TCPSynRetrans")] ?? 0) || 0;
  } catch {
    return 0;
  }
}

export function startSampler(o: SamplerOptions): Sampler {
  const hz = 100;
  const ticks: Tick[] = [];
  const start = performance.now();
  let prev = new Map<number, number>();
  let prevStat = parseProcStat(readFileSync("/proc/stat", "utf8"));
  let prevAt = start;
  let stopped = false;
  const one = async (): Promise<void> => {
    const netns = namedNetns(o.serverNamespace);
    const [stats, ct] = await Promise.all([fetchStats(o.metricsUrl, 1500), readLocalConntrack()]);
    const rows = readProcesses();
    const now = performance.now();
    const dt = (now - prevAt) / 1000;
    const stat = parseProcStat(readFileSync("/proc/stat", "utf8"));
    const byPid = new Map<number, ProcRow>(rows.map((r) => [r.pid, r]));
    const cores = Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>;
    const next = new Map<number, number>();
    const containerNs = new Map<string, number>();
    for (const r of rows) {
      next.set(r.pid, r.ticks);
      cores[groupOf(r, byPid, netns)] += (r.ticks - (prev.get(r.pid) ?? r.ticks)) / hz / dt;
      if (r.docker && !containerNs.has(r.netns)) containerNs.set(r.netns, r.pid);
    }
    const k = stats.ok ? stats.stats.kernel : undefined;
    ticks.push({
      t: Math.round((now - start) / 100) / 10,
      cores,
      softirqCores: (stat.softirq - prevStat.softirq) / hz / dt,
      busyCores: (stat.busy - prevStat.busy) / hz / dt,
      server: stats.ok
        ? {
            total: stats.stats.total,
            passiveOpens: k?.passiveOpens ?? 0,
            listenDrops: k?.listenDrops ?? 0,
            listenOverflows: k?.listenOverflows ?? 0,
            memAvailableBytes: k?.memAvailableBytes ?? null,
          }
        : null,
      containers: containerNs.size,
      synRetrans: [...containerNs.values()].reduce((s, pid) => s + synRetransOf(pid), 0),
      conntrack: ct.ok ? { count: ct.reading.count, insertFailed: ct.reading.insertFailed, drop: ct.reading.drop } : null,
    });
    prev = next;
    prevStat = stat;
    prevAt = now;
  };
  const intervalMs = o.intervalMs ?? 1000;
  const loop = (async () => {
    while (!stopped) {
      const began = performance.now();
      await one().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - began))));
    }
  })();
  return {
    ticks,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
