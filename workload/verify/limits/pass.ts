// The sentence of a run that reached its target with nothing wrong.
import { fmt, seconds } from "../format.js";
import { ipSpread } from "../perIp.js";
import type { ServerIpRow } from "../summary.js";
import type { Facts } from "./limitClass.js";

/** "54 server IPs (18,513–18,564 each)" (the IPs that hold connections); listed when few. */
export function perIpText(rows: ServerIpRow[]): string {
  const used = rows.filter((r) => r.measured > 0);
  if (used.length <= 4) return `${used.length} server IPs (${used.map((r) => `${r.ip}: ${fmt(r.measured)}`).join(", ")})`;
  const s = ipSpread(Object.fromEntries(used.map((r) => [r.ip, r.measured])))!;
  return `${fmt(s.count)} server IPs (${s.min === s.max ? fmt(s.min) : `${fmt(s.min)}–${fmt(s.max)}`} each)`;
}

export function passSentence(f: Facts): string {
  const { plan, total, soak } = f;
  const used = f.serverIps.filter((r) => r.measured > 0);
  const soakText = soak ? `, held for ${seconds(soak.seconds)} without a loss` : "";
  if (used.length <= 1) {
    return `All ${fmt(total)} connections established (target ${fmt(plan.target)}, plan predicted ${fmt(plan.predicted)})${soakText}.`;
  }
  const pool = plan.natPool;
  const sources = Math.max(1, Object.keys(f.server?.perRemoteIp ?? {}).length || plan.clientSources.length);
  const beyond =
    pool && total > pool.size * sources ? `, more than the ${fmt(pool.size)}-port NAT pool allows toward one server IP` : "";
  const shared = f.sharedSourcePorts;
  const proof =
    shared.total > 0
      ? `: ${fmt(shared.total)} NAT'd source ports are in use toward more than one server IP${shared.example ? ` (e.g. ${shared.example})` : ""}`
      : "";
  return `All ${fmt(total)} connections established over ${perIpText(f.serverIps)}${beyond}${soakText}${proof}.`;
}
