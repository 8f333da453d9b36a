// The conntrack flush's section of report.md, and its progress line (pure).
import { markdownTable } from "markdown-table";
import { fmt, seconds, signed } from "../format.js";
import { rttText } from "../rtt.js";
import type { Observation } from "../types.js";
import type { FlushSummary } from "./flushMeasure.js";

const dash = (n: number | null | undefined) => (n === null || n === undefined ? "—" : fmt(n));

export function flushMarkdown(s: FlushSummary | null | undefined): string[] {
  if (!s) return [];
  const rows: string[][] = [
    ["", "Value"],
    ["Lab entries deleted", s.deleteError === null ? dash(s.deleted) : `failed: ${s.deleteError}`],
    ["Watched for", `${seconds(s.observedSeconds)} (bound test.maxRecoverySeconds ${fmt(s.maxRecoverySeconds)} s)`],
    ["Server's count before / lowest / last", `${dash(s.totalBefore)} / ${dash(s.lowestTotal)} / ${dash(s.finalTotal)}`],
    ["Clients' established at the end", dash(s.clientsHeld)],
    ["Left open at the server by their clients", dash(s.halfOpenAtServer)],
    ["All held again after", s.backAfterSeconds === null ? "— (none short, or not back)" : seconds(s.backAfterSeconds)],
    ["Lost for good", fmt(s.lostForGood)],
    ["Clients: dropped", dash(s.clients?.dropped)],
    ["Clients: reconnected", dash(s.clients?.reconnected)],
    ["Clients: still reconnecting", dash(s.clients?.reconnecting)],
    ["Pings since the delete", dash(s.pings?.sent)],
    ["Pings unanswered", dash(s.pings?.unanswered)],
    ["Round trips since the delete", s.pings?.percentiles ? rttText(s.pings.percentiles) : "—"],
    ["Lab entries in the table at the end", dash(s.entriesAfter)],
    ["Conntrack insert failures (whole table)", s.conntrack ? signed(s.conntrack.insertFailed) : "—"],
    [
      "Conntrack drops / early drops (whole table)",
      s.conntrack ? `${signed(s.conntrack.drop)} / ${signed(s.conntrack.earlyDrop)}` : "—",
    ],
  ];
  return [
    "## Conntrack flush",
    "",
    markdownTable(rows, { align: ["l", "r"] }),
    "",
    "Only the entries whose original source is one of the lab's client subnets were deleted (`conntrack -D -s <subnet>`); " +
      "the held connections' next packets need NAT state again (with net.netfilter.nf_conntrack_tcp_loose=1 mid-stream packets are tracked anew).",
    "",
  ];
}

/** One progress line per poll of the watch. */
export function flushProgressLine(o: Observation, target: number, base: Observation | null): string {
  const head = `[verify flush ${o.t.toFixed(1).padStart(5)}s]`;
  if (!o.server) return `${head} server down (${o.serverError ?? "no answer"})`;
  const sum = (view: Observation | null, f: (c: NonNullable<Observation["clients"]>[number]) => number) =>
    (view?.clients ?? []).reduce((a, c) => a + f(c), 0);
  const clients =
    o.clients === null
      ? ""
      : ` · clients dropped ${signed(sum(o, (c) => c.status?.dropped ?? 0) - sum(base, (c) => c.status?.dropped ?? 0))}` +
        `, pings unanswered ${signed(sum(o, unanswered) - sum(base, unanswered))}`;
  const ct = o.conntrack ? ` · conntrack ${fmt(o.conntrack.count)}` : "";
  return `${head} ${fmt(o.server.total)}/${fmt(target)} held${clients}${ct}`;
}

function unanswered(c: NonNullable<Observation["clients"]>[number]): number {
  const r = c.status?.rtt;
  return r ? r.pings - r.echoes : 0;
}
