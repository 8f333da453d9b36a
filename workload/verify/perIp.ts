// Connections per server IP (pure): from /stats' per-local-address counts, and their spread.
import type { ServerStats } from "../../shared/protocol.js";
import { ipOfHostPort } from "./format.js";

/** Live connections per server IP (summing over ports), every planned address listed. */
export function perServerIpOf(stats: ServerStats | null, addresses: string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ip of addresses) out[ip] = 0;
  for (const [hostPort, n] of Object.entries(stats?.perLocalAddress ?? {})) {
    const ip = ipOfHostPort(hostPort);
    out[ip] = (out[ip] ?? 0) + n;
  }
  return out;
}

/** An IP lags when it holds less than this fraction of the median. */
export const LAG_FRACTION = 0.9;
/** Lagging IPs kept at most. */
const MAX_LAGGING = 3;

export interface IpSpread {
  count: number;
  min: number;
  median: number;
  max: number;
  /** IPs below LAG_FRACTION × median, lowest first (at most 3). */
  lagging: [string, number][];
}

/** Per-IP counts summarized; null without any IP. */
export function ipSpread(perIp: Record<string, number>): IpSpread | null {
  const entries = Object.entries(perIp).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0], "en", { numeric: true }));
  if (entries.length === 0) return null;
  const values = entries.map(([, n]) => n);
  const mid = Math.floor(values.length / 2);
  const median = values.length % 2 === 1 ? values[mid]! : Math.round((values[mid - 1]! + values[mid]!) / 2);
  return {
    count: entries.length,
    min: values[0]!,
    median,
    max: values.at(-1)!,
    lagging: entries.filter(([, n]) => n < LAG_FRACTION * median).slice(0, MAX_LAGGING),
  };
}
