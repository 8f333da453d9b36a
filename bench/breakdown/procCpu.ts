// CPU time by part of the lab, read off /proc: every process's utime+stime, grouped by what it is
// (the server's network namespace, a client container's cgroup, Docker's daemons, the Pulumi
// engine and its providers, the steps the command provider runs), plus the kernel's softirq time.
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";

export const CPU_GROUPS = ["server", "clients", "docker", "engine", "steps", "kernel", "other"] as const;
export type CpuGroup = (typeof CPU_GROUPS)[number];

export interface ProcRow {
  pid: number;
  ppid: number;
  /** argv[0]'s base name for pulumi's binaries (comm is cut at 15 characters), else comm. */
  name: string;
  /** utime + stime, clock ticks. */
  ticks: number;
  netns: string;
  /** In a Docker container's cgroup. */
  docker: boolean;
}

/** Which group a process's time goes to; `rows` by pid gives its ancestors. */
export function groupOf(row: ProcRow, byPid: Map<number, ProcRow>, serverNetns: string | null): CpuGroup {
  if (serverNetns !== null && row.netns === serverNetns) return "server";
  if (row.docker) return "clients";
  if (/^(dockerd|containerd|containerd-shim.*|docker-proxy|runc)$/.test(row.name)) return "docker";
  if (row.ppid === 2 || row.pid === 2) return "kernel";
  for (let r: ProcRow | undefined = row, depth = 0; r && depth < 12; r = byPid.get(r.ppid), depth++) {
    if (r.name === "pulumi-resource-command" && r !== row) return "steps";
    if (r.name.startsWith("pulumi")) return "engine";
  }
  return "other";
}

/** Summed ticks per group. */
export function ticksByGroup(rows: ProcRow[], serverNetns: string | null): Record<CpuGroup, number> {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const out = Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>;
  for (const r of rows) out[groupOf(r, byPid, serverNetns)] += r.ticks;
  return out;
}

/** /proc/<pid>/stat: fields after the ")" that ends comm (comm may hold spaces and parentheses). */
export function parseStat(text: string): { comm: string; ppid: number; ticks: number } | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { comm: text.slice(open + 1, close), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

function readRow(pid: number): ProcRow | null {
  try {
    const st = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (!st) return null;
    let name = st.comm;
    if (name.startsWith("pulumi")) {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
      name = argv0.split("/").pop() || name;
    }
    const netns = readlinkSync(`/proc/${pid}/ns/net`);
    const docker = /\/docker\/[0-9a-f]{12}/.test(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    return { pid, ppid: st.ppid, name, ticks: st.ticks, netns, docker };
  } catch {
    return null; // it exited while we looked
  }
}

export function readProcesses(): ProcRow[] {
  const rows: ProcRow[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const r = readRow(Number(e));
    if (r) rows.push(r);
  }
  return rows;
}

/** "net:[4026532290]" of a named namespace (/run/netns/NAME), or null while it does not exist. */
export function namedNetns(name: string): string | null {
  try {
    return `net:[${statSync(`/run/netns/${name}`).ino}]`;
  } catch {
    return null;
  }
}

/** /proc/stat's first line (all CPUs), field by field, in clock ticks. */
export function procStatFields(text: string) {
  const f = (text.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

/** /proc/stat's first line: busy and softirq ticks of all CPUs. */
export function parseProcStat(text: string): { busy: number; softirq: number; total: number } {
  const { user, nice, system, idle, iowait, irq, softirq, steal } = procStatFields(text);
  return {
    busy: user + nice + system + irq + softirq + steal,
    softirq,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}
