// The capacity plan as text a person reads (`npm run plan`). Pure.
import type { CapacityPlan } from "../../shared/plan.js";
import { fmtBytes } from "./capacity.js";
import { EHASH_KEY, clientEhashRaise } from "./ehash.js";

const n = (x: number) => x.toLocaleString("en-US");

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

/** "13 × 4 processes" when a container's client runs several; "13" otherwise (or a mix: "13, 26 processes"). */
function clientContainers(plan: CapacityPlan): string {
  const counts = [...new Set(plan.containers.map((c) => c.processes))];
  const total = plan.containers.reduce((sum, c) => sum + c.processes, 0);
  if (total === plan.containers.length) return String(plan.containers.length);
  return counts.length === 1
    ? `${plan.containers.length} × ${counts[0]} processes`
    : `${plan.containers.length}, ${total} processes`;
}

/** The table each client container's namespace gets (infra/plan/ehash.ts), or the host's shared one. */
function clientEhash(plan: CapacityPlan): string {
  const entries = clientEhashRaise(plan)[EHASH_KEY];
  return entries === undefined ? "host's" : n(entries);
}

export function formatPlan(stack: string, plan: CapacityPlan): string {
  const pool = plan.natPool ? `${plan.natPool.from}-${plan.natPool.to} (${n(plan.natPool.size)})` : "none (routed)";
  const hostCol = plan.hosts ? (host?: string) => [host ?? ""] : () => [];
  const paths = table([
    [...(plan.hosts ? ["host"] : []), "client IP → server IP:port", "ports", "load", "expected", "fill"],
    ...plan.paths.map((p) => [
      ...hostCol(p.host),
      `${p.source} → ${p.server}:${p.port}`,
      n(p.capacity),
      n(p.load),
      n(p.expected),
      `${Math.round((p.load / p.capacity) * 100)}%`,
    ]),
  ]);
  const needs = table([
    ["needs", "value"],
    ["server IPs (≤ 90% per path)", n(plan.needs.serverIps)],
    ["client IPs (≤ 90% per path)", n(plan.needs.clientIps)],
    ["client processes (fd limit)", n(plan.needs.clientProcesses)],
    ["server workers (fd limit)", n(plan.needs.serverWorkers)],
    ["nf_conntrack_max", n(plan.needs.conntrackEntries)],
    ["container nofile", n(plan.needs.containerNofile)],
    ["TCP hash per container (buckets)", clientEhash(plan)],
    ["memory", fmtBytes(plan.needs.memoryBytes)],
  ]);
  return [
    `c1m-lab plan for stack ${stack} (strategy ${plan.strategy})`,
    "",
    table([
      ["", "value"],
      ["target", n(plan.target)],
      ["predicted", n(plan.predicted)],
      ["ceiling", n(plan.ceiling)],
      ["binding limit", plan.bindingLimit],
      ["server addresses", String(plan.serverAddresses.length)],
      ["server workers", `${plan.serverWorkers} × ≤ ${n(plan.perWorker)}`],
      ["client containers", clientContainers(plan)],
      ["NAT pool", pool],
      [
        "container port range",
        `${plan.containerPortRange.from}-${plan.containerPortRange.to} (${n(plan.containerPortRange.size)})`,
      ],
    ]),
    "",
    ...(plan.hosts ? [hostsTable(plan), ""] : []),
    paths,
    "",
    needs,
    "",
    plan.explanation,
    ...[...plan.warnings, ...plan.liveWarnings].map((w) => `warning: ${w}`),
    "",
  ].join("\n");
}

/** One row per client host: where its Docker is, its share and what limits it. */
function hostsTable(plan: CapacityPlan): string {
  return table([
    ["client host", "docker", "containers", "target", "predicted", "limit", "capacity"],
    ...plan.hosts!.map((h) => [
      h.name === plan.bindingHost ? `${h.name} (binding)` : h.name,
      h.docker,
      n(h.containers),
      n(h.target),
      n(h.predicted),
      h.bindingLimit,
      h.capacity,
    ]),
  ]);
}
