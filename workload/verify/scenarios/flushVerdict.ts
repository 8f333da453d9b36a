// The conntrack flush's verdict, its sentence and its stack output (pure). Connections lost for
// good (the server short of the target when the watch ended) fail the run with limit "nat-state",
// and so does a delete that could not run (nothing was measured); on a run that failed already it
// is one more warning. Otherwise what happened is one more sentence of the diagnosis.
import { fmt, seconds } from "../format.js";
import { ms } from "../rtt.js";
import type { Diagnosis } from "../summary.js";
import type { FlushSummary } from "./flushMeasure.js";

/** The diagnosis with the flush judged; `notRun` says why there was no flush (the ramp fell short). */
export function withFlush(d: Diagnosis, flush: FlushSummary | null, notRun: string | null = null): Diagnosis {
  if (flush === null) {
    return notRun === null ? d : { ...d, conntrackFlush: null, warnings: [...d.warnings, `conntrack flush not run: ${notRun}`] };
  }
  const breach = flushBreach(flush);
  if (breach === null) return { ...d, conntrackFlush: flush, diagnosis: `${d.diagnosis} ${flushSentence(flush)}` };
  if (d.verdict === "fail") return { ...d, conntrackFlush: flush, warnings: [...d.warnings, breach] };
  return {
    ...d,
    conntrackFlush: flush,
    verdict: "fail",
    limit: "nat-state",
    diagnosis: breach,
    warnings: [`connections: ${d.diagnosis}`, ...d.warnings],
  };
}

/** The one sentence of a failed flush, or null when every connection held or came back in time. */
export function flushBreach(s: FlushSummary): string | null {
  if (s.deleteError !== null)
    return `The conntrack flush could not delete the lab's NAT entries (${s.deleteError}): nothing was measured.`;
  if (s.lostForGood === 0) return null;
  const held =
    s.finalTotal === null
      ? "the server's count could not be read"
      : `${fmt(s.target - s.lostForGood)} of ${fmt(s.target)} held (server ${fmt(s.finalTotal)}${s.clientsHeld === null ? "" : `, clients ${fmt(s.clientsHeld)}`})`;
  return (
    `After the lab's ${fmt(s.deleted ?? 0)} conntrack entries were deleted, ${fmt(s.lostForGood)} connections were lost for good: ` +
    `${held} ${seconds(s.observedSeconds)} later (bound test.maxRecoverySeconds ${fmt(s.maxRecoverySeconds)} s)${aftermath(s)}.`
  );
}

/** What happened when nothing was lost for good. */
export function flushSentence(s: FlushSummary): string {
  const deleted = `After the lab's ${fmt(s.deleted ?? 0)} conntrack entries were deleted`;
  const what =
    s.backAfterSeconds === null
      ? `all ${fmt(s.target)} connections held over ${seconds(s.observedSeconds)}`
      : `not all ${fmt(s.target)} connections held, but all were back ${seconds(s.backAfterSeconds)} after the delete`;
  return `${deleted}, ${what}${aftermath(s)}.`;
}

function aftermath(s: FlushSummary): string {
  const parts: string[] = [];
  if (s.clients) parts.push(`clients dropped ${fmt(s.clients.dropped)}, reconnected ${fmt(s.clients.reconnected)}`);
  if (s.halfOpenAtServer) parts.push(`${fmt(s.halfOpenAtServer)} left open at the server by their clients`);
  if (s.pings) {
    const p99 = s.pings.percentiles ? `, p99 ${ms(s.pings.percentiles.p99)}` : "";
    parts.push(`${fmt(s.pings.unanswered)} of ${fmt(s.pings.sent)} pings unanswered${p99}`);
  }
  if (s.entriesAfter !== null) parts.push(`${fmt(s.entriesAfter)} lab entries in the table again`);
  if (s.conntrack) parts.push(`conntrack insert failures +${fmt(s.conntrack.insertFailed)}`);
  return parts.length > 0 ? ` (${parts.join("; ")})` : "";
}

/** The flush in the stack outputs. */
export interface FlushOutput {
  held: boolean;
  deleted: number | null;
  error: string | null;
  entriesAfter: number | null;
  observedSeconds: number;
  maxRecoverySeconds: number;
  lowestTotal: number | null;
  finalTotal: number | null;
  clientsHeld: number | null;
  halfOpenAtServer: number | null;
  lostForGood: number;
  backAfterSeconds: number | null;
  clientsDropped: number | null;
  clientsReconnected: number | null;
  pings: number | null;
  unansweredPings: number | null;
  rttP99Ms: number | null;
  insertFailed: number | null;
}

export function flushOutput(s: FlushSummary): FlushOutput {
  return {
    held: s.deleteError === null && s.lostForGood === 0,
    deleted: s.deleted,
    error: s.deleteError,
    entriesAfter: s.entriesAfter,
    observedSeconds: s.observedSeconds,
    maxRecoverySeconds: s.maxRecoverySeconds,
    lowestTotal: s.lowestTotal,
    finalTotal: s.finalTotal,
    clientsHeld: s.clientsHeld,
    halfOpenAtServer: s.halfOpenAtServer,
    lostForGood: s.lostForGood,
    backAfterSeconds: s.backAfterSeconds,
    clientsDropped: s.clients?.dropped ?? null,
    clientsReconnected: s.clients?.reconnected ?? null,
    pings: s.pings?.sent ?? null,
    unansweredPings: s.pings?.unanswered ?? null,
    rttP99Ms: s.pings?.percentiles?.p99 ?? null,
    insertFailed: s.conntrack?.insertFailed ?? null,
  };
}
