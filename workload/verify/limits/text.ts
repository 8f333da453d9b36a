// Sentence pieces several limit classes share.
import { FAILURE_CLASSES, type FailureClass } from "../../../shared/protocol.js";
import { briefList, fmt, plural, shortenIps } from "../format.js";
import type { ClientSummary } from "../summary.js";
import type { Facts } from "./limitClass.js";

/** "9,900 of 10,000". */
export const of = (f: Facts) => `${fmt(f.total)} of ${fmt(f.plan.target)}`;

/** "c1m-client-1 exited (code 137, OOM-killed)", the first few of many. */
export function crashedList(crashed: [string, ClientSummary][]): string {
  return briefList(
    crashed.map(([name, c]) => {
      const bits: string[] = [];
      if (c.exitCode !== null && c.state !== "running") bits.push(`code ${c.exitCode}`);
      if (c.oomKilled) bits.push("OOM-killed");
      if (c.restartCount > 0) bits.push(plural(c.restartCount, "restart"));
      return `${name} ${c.state === "running" ? "restarted" : c.state}${bits.length > 0 ? ` (${bits.join(", ")})` : ""}`;
    }),
  );
}

export function failureList(failures: Record<FailureClass, number>): string {
  const items = FAILURE_CLASSES.filter((k) => failures[k] > 0).map((k) => `${fmt(failures[k])} ${k}`);
  return items.length > 0 ? items.join(", ") : "no failures";
}

/** Planned server IP:ports no connection reached. */
export function silentAddresses(f: Facts): string[] {
  return f.serverIps.filter((r) => r.measured === 0 && r.planExpected > 0).map((r) => `${r.ip}:${f.plan.serverPort}`);
}

/** "no connection reached 10.201.0.3:9000" / "no connection reached 12 of 54 server IPs (10.201.6.9, .10, .11 and 9 more)". */
export function silentText(f: Facts, silent: string[]): string {
  if (silent.length <= 3) return `no connection reached ${briefList(silent)}`;
  const ips = shortenIps(silent.map((s) => s.slice(0, s.lastIndexOf(":"))));
  return `no connection reached ${fmt(silent.length)} of ${plural(f.plan.serverAddresses.length, "server IP")} (${briefList(ips)})`;
}
