// The reconnect storm's section of report.md, and its progress line (pure).
import { markdownTable } from "markdown-table";
import { fmt, seconds, signed } from "../format.js";
import type { Observation } from "../types.js";
import type { StormSummary } from "./stormMeasure.js";

export function stormMarkdown(s: StormSummary | null | undefined): string[] {
  if (!s) return [];
  const k = s.kernel;
  const rows: string[][] = [
    ["", "Value"],
    ["Server restart took", s.restartSeconds === null ? "did not finish" : seconds(s.restartSeconds)],
    [
      "All back after",
      s.recoverySeconds === null
        ? `not within ${fmt(s.maxRecoverySeconds)} s`
        : `${seconds(s.recoverySeconds)} (polls every ${seconds(s.resolutionSeconds)})`,
    ],
    ["Bound (test.maxRecoverySeconds)", `${fmt(s.maxRecoverySeconds)} s`],
    ["Lowest count after the restart", s.lowestTotal === null ? "—" : fmt(s.lowestTotal)],
    ["Lost for good", fmt(s.lostForGood)],
    [
      "Peak handshakes/s at the listeners",
      s.peakHandshakesPerSecond === null
        ? "— (no kernel counters)"
        : `${fmt(s.peakHandshakesPerSecond)} (at ${seconds(s.peakAt ?? 0)})`,
    ],
    ...(k
      ? [
          ["PassiveOpens", signed(k.passiveOpens)],
          ["ListenDrops", signed(k.listenDrops)],
          ["ListenOverflows", signed(k.listenOverflows)],
          ["TCPReqQFullDrop", signed(k.reqQFullDrops)],
          ["SyncookiesSent", signed(k.syncookiesSent)],
        ]
      : []),
    ...(s.clients
      ? [
          ["Clients: dropped", fmt(s.clients.dropped)],
          ["Clients: reconnected", fmt(s.clients.reconnected)],
          ["Clients: still reconnecting", fmt(s.clients.reconnecting)],
        ]
      : []),
  ];
  const series = s.series
    .filter((p) => p.t > 0)
    .map(
      (p) =>
        `${seconds(p.t)} ${p.total === null ? "down" : fmt(p.total)}${p.handshakesPerSecond === null ? "" : ` (${fmt(p.handshakesPerSecond)}/s)`}`,
    );
  return [
    "## Reconnect storm",
    "",
    markdownTable(rows, { align: ["l", "r"] }),
    "",
    "Handshakes/s at the listeners: Δ(PassiveOpens + ListenDrops) of the server's namespace per second between polls. " +
      "SYNs that found no listener while the server was down were answered with a reset and are not in it; a SYN sent again counts again.",
    "",
    `After the restart (connections, handshakes/s): ${series.join(" · ") || "—"}.`,
    "",
  ];
}

/** One progress line per storm poll. */
export function stormProgressLine(
  o: Observation,
  target: number,
  prevKernel: { t: number; n: number } | null,
  phase: string,
): string {
  const head = `[verify storm ${o.t.toFixed(1).padStart(5)}s ${phase}]`;
  if (!o.server) return `${head} server down (${o.serverError ?? "no answer"})`;
  const k = o.server.kernel;
  const n = k ? k.passiveOpens + k.listenDrops : null;
  const rate =
    n !== null && prevKernel !== null && o.t > prevKernel.t
      ? ` ${fmt((n - prevKernel.n) / (o.t - prevKernel.t))} handshakes/s`
      : "";
  const drops = k ? `, ListenDrops ${fmt(k.listenDrops)} since boot` : "";
  return `${head} ${fmt(o.server.total)}/${fmt(target)} back${rate}${drops}`;
}
