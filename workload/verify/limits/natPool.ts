// A plateau at the NAT's source-port pool: per (client source IP, server IP, port) path.
import { fmt, percent, signed } from "../format.js";
import type { ServerIpRow } from "../summary.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { PLATEAU_LOWER, plateauUpper } from "./thresholds.js";

/** Client source IPs seen by the server (else planned), and the server IPs full at pool × sources. */
function saturation(f: Facts, poolSize: number): { sources: number; saturated: ServerIpRow[] } {
  const remotes = Object.entries(f.server?.perRemoteIp ?? {}).filter(([, n]) => n > 0).length;
  const sources = Math.max(1, remotes > 0 ? remotes : f.plan.clientSources.length);
  const wallPerIp = poolSize * sources;
  const saturated = f.serverIps.filter(
    (r) => r.measured >= Math.floor(PLATEAU_LOWER * wallPerIp) && r.measured <= plateauUpper(wallPerIp),
  );
  return { sources, saturated };
}

/** " (conntrack insert_failed +3, 12 connect timeouts)" or "". */
function evidenceText(f: Facts): string {
  const evidence: string[] = [];
  if (f.conntrack) evidence.push(`conntrack insert_failed ${signed(f.conntrack.delta.insertFailed)}`);
  if (f.failures.timeout > 0) evidence.push(`${fmt(f.failures.timeout)} connect timeouts`);
  return evidence.length > 0 ? ` (${evidence.join(", ")})` : "";
}

function sentence(f: Facts, pool: NonNullable<Facts["plan"]["natPool"]>, sources: number, saturated: ServerIpRow[]): string {
  const { plan, total } = f;
  const nServers =
    saturated.length > 0
      ? saturated.length
      : Math.max(1, Math.round(plan.paths.filter((p) => p.load > p.capacity).length / sources));
  const all = plan.serverAddresses.length;
  const serversText = nServers === all ? `${nServers} server IP` : `${nServers} of ${all} server IPs`;
  const paths = sources * nServers;
  const wall = pool.size * paths;
  const atWall = saturated.length > 0 ? saturated.reduce((s, r) => s + r.measured, 0) : total;
  const exact = atWall === wall ? "=" : "≈";
  const math = paths > 1 ? ` (${paths} paths × ${fmt(pool.size)} = ${fmt(wall)})` : "";
  const share = atWall === wall ? "" : `, ${percent(atWall / wall)} of ${fmt(wall)}`;
  return (
    `Plateau at ${fmt(total)} of ${fmt(plan.target)} connections ${exact} the NAT source-port pool ${pool.from}–${pool.to} ` +
    `(${fmt(pool.size)} ports) for ${sources} client IP × ${serversText}:${plan.serverPort}${math}${share}${evidenceText(f)}; ` +
    `add server IPs (server.secondaryAddresses, netplan) or client source IPs (clients.sourceIps).`
  );
}

function detect(f: Facts): string | null {
  const { plan, total } = f;
  const pool = plan.natPool;
  if (!pool) return null;
  const { sources, saturated } = saturation(f, pool.size);
  const planSays =
    plan.bindingLimit === "nat-pool" &&
    total >= Math.floor(PLATEAU_LOWER * plan.predicted) &&
    total <= plateauUpper(plan.predicted);
  if (saturated.length === 0 && !planSays) return null;
  return sentence(f, pool, sources, saturated);
}

export const natPool: LimitClass = { limit: "nat-pool", detect };
