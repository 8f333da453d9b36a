// The report's per-client-host section (pure): for each host its plan (target, predicted, limit,
// capacity), what the server held from it, its containers, its conntrack, and whether it was lost.
import { markdownTable } from "markdown-table";
import { fmt, seconds } from "./format.js";
import type { HostSummary } from "./types.js";

const state = (h: HostSummary): string =>
  h.lost
    ? `**lost${h.lost.since > 0 ? ` at ${seconds(h.lost.since)}` : " (never answered)"}**: ${h.lost.error.replace(/^client host [^:]+: /, "")}`
    : h.neverConnected
      ? `**no client connected**${h.lastError ? `: ${h.lastError}` : ""}`
      : "ok";

/** "## Per client host" and its table; [] without hosts. */
export function hostsMarkdown(hosts: HostSummary[] | undefined): string[] {
  if (!hosts || hosts.length === 0) return [];
  const num = (n: number | null | undefined) => (n === null || n === undefined ? "—" : fmt(n));
  const rows = hosts.map((h) => [
    h.name,
    h.docker,
    fmt(h.target),
    fmt(h.predicted),
    `${h.bindingLimit}: ${h.capacity}`,
    num(h.server),
    h.clients ? `${fmt(h.clients.running)}/${fmt(h.clients.count)} running, ${fmt(h.clients.established)} est.` : "—",
    h.conntrack ? `${fmt(h.conntrack.count)}/${fmt(h.conntrack.max)}` : "—",
    state(h),
  ]);
  const sum = (f: (h: HostSummary) => number) => fmt(hosts.reduce((a, h) => a + f(h), 0));
  return [
    "## Per client host",
    "",
    "Server holds: the server's connections from the host's source IPs (the truth for totals); clients: its containers through its Docker API; conntrack: its own table.",
    "",
    markdownTable(
      [
        ["Host", "Docker", "Target", "Plan predicted", "Plan limit", "Server holds", "Clients", "Conntrack", "State"],
        ...rows,
        [
          "**total**",
          "",
          `**${sum((h) => h.target)}**`,
          `**${sum((h) => h.predicted)}**`,
          "",
          `**${sum((h) => h.server ?? 0)}**`,
          "",
          "",
          "",
        ],
      ].map((r) => r.map((c) => c.replace(/\|/g, "\\|"))),
      { align: ["l", "l", "r", "r", "l", "r", "r", "r", "l"] },
    ),
    "",
  ];
}
