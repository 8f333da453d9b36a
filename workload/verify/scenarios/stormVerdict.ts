// The reconnect storm's verdict and its place in the report (pure): a restart that failed, or
// connections not all back within test.maxRecoverySeconds, fail the run (limit "recovery") with
// one sentence; on a run that failed already it is one more warning. A storm that recovered adds
// its sentence to the diagnosis.
import { fmt, seconds, signed } from "../format.js";
import type { Diagnosis } from "../summary.js";
import type { StormSummary } from "./stormMeasure.js";

/** The diagnosis with the storm judged; `notRun` says why there was no storm (the ramp fell short). */
export function withStorm(d: Diagnosis, storm: StormSummary | null, notRun: string | null = null): Diagnosis {
  if (storm === null) {
    return notRun === null ? d : { ...d, storm: null, warnings: [...d.warnings, `reconnect storm not run: ${notRun}`] };
  }
  const breach = stormBreach(storm);
  if (breach === null) return { ...d, storm, diagnosis: `${d.diagnosis} ${recoveredSentence(storm)}` };
  if (d.verdict === "fail") return { ...d, storm, warnings: [...d.warnings, breach] };
  return {
    ...d,
    storm,
    verdict: "fail",
    limit: "recovery",
    diagnosis: breach,
    warnings: [`connections: ${d.diagnosis}`, ...d.warnings],
  };
}

/** The one sentence of a failed storm, or null when every connection came back in time. */
export function stormBreach(s: StormSummary): string | null {
  if (s.restartError !== null) return `The reconnect storm's server restart failed (${s.restartError}).`;
  if (s.recoverySeconds !== null) return null;
  const back =
    s.finalTotal === null ? "the server's count could not be read" : `${fmt(s.finalTotal)} of ${fmt(s.target)} were back`;
  return (
    `After the server restart not every connection came back within test.maxRecoverySeconds (${fmt(s.maxRecoverySeconds)} s): ` +
    `${back}, ${fmt(s.lostForGood)} lost for good${peakText(s)}.`
  );
}

function recoveredSentence(s: StormSummary): string {
  return `After a server restart all ${fmt(s.target)} connections were back in ${seconds(s.recoverySeconds!)} (bound ${fmt(s.maxRecoverySeconds)} s${peakText(s)}).`;
}

function peakText(s: StormSummary): string {
  if (s.peakHandshakesPerSecond === null) return "";
  const drops = s.kernel && s.kernel.listenDrops > 0 ? `, ListenDrops ${signed(s.kernel.listenDrops)}` : "";
  return `; peak ${fmt(s.peakHandshakesPerSecond)} handshakes/s at the listeners${drops}`;
}

/** The storm in the stack outputs. */
export interface StormOutput {
  recovered: boolean;
  recoverySeconds: number | null;
  maxRecoverySeconds: number;
  restartSeconds: number | null;
  /** The server's count at the storm's last poll. */
  finalTotal: number | null;
  lostForGood: number;
  peakHandshakesPerSecond: number | null;
  listenDrops: number | null;
  listenOverflows: number | null;
  reqQFullDrops: number | null;
  clientsDropped: number | null;
  clientsReconnected: number | null;
}

export function stormOutput(s: StormSummary): StormOutput {
  return {
    recovered: s.recoverySeconds !== null,
    recoverySeconds: s.recoverySeconds,
    maxRecoverySeconds: s.maxRecoverySeconds,
    restartSeconds: s.restartSeconds,
    finalTotal: s.finalTotal,
    lostForGood: s.lostForGood,
    peakHandshakesPerSecond: s.peakHandshakesPerSecond,
    listenDrops: s.kernel?.listenDrops ?? null,
    listenOverflows: s.kernel?.listenOverflows ?? null,
    reqQFullDrops: s.kernel?.reqQFullDrops ?? null,
    clientsDropped: s.clients?.dropped ?? null,
    clientsReconnected: s.clients?.reconnected ?? null,
  };
}
