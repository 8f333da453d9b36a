// The connection test's progress line (pure): one terminal line per poll at any number of server
// IPs. A few IPs are listed; many are summarized (min / median / max, and the lowest few when
// they lag). The full per-IP table is the report's.
import { fmt, shortenIps } from "./format.js";
import { ipSpread, perServerIpOf, type IpSpread } from "./perIp.js";
import type { Observation } from "./types.js";
import { hostsProgressVariants } from "./hosts.js";
import type { Phase } from "./wait.js";

/** The widest progress line. */
export const PROGRESS_WIDTH = 160;

/** "54 IPs 18,513–18,564, median 18,540" or "54 IPs 18,519 each". */
export function spreadText(s: IpSpread): string {
  if (s.min === s.max) return `${fmt(s.count)} IPs ${fmt(s.min)} each`;
  return `${fmt(s.count)} IPs ${fmt(s.min)}–${fmt(s.max)}, median ${fmt(s.median)}`;
}

/** The per-IP part, most detailed first: every IP, then the summary with 3, 2, 1, 0 lagging IPs. */
function perIpVariants(perIp: Record<string, number>): string[] {
  const s = ipSpread(perIp);
  if (s === null) return [""];
  const list = Object.entries(perIp)
    .map(([ip, n]) => `${ip} ${fmt(n)}`)
    .join(" · ");
  const summary = spreadText(s);
  const names = shortenIps(s.lagging.map(([ip]) => ip));
  const withLagging = s.lagging.map((_, k) => {
    const low = s.lagging.slice(0, s.lagging.length - k).map(([, n], i) => `${names[i]} ${fmt(n)}`);
    return `${summary}; lagging ${low.join(", ")}`;
  });
  return [list, ...withLagging, summary];
}

/**
 * Joins one variant of each part with " | ", starting from the most detailed: while the line is
 * wider than `width`, the next part in `order` takes its next, shorter variant. Once it fits,
 * parts shortened further than needed get their detail back where it still fits (latest step
 * first). If nothing fits, the shortest line is cut with "…".
 */
export function fitParts(parts: string[][], order: number[], width = PROGRESS_WIDTH): string {
  const level = parts.map(() => 0);
  const join = () =>
    parts
      .map((p, i) => p[Math.min(level[i]!, p.length - 1)]!)
      .filter((t) => t !== "")
      .join(" | ");
  let steps = 0;
  while (join().length > width && steps < order.length) level[order[steps++]!]!++;
  const line = join();
  if (line.length > width) return `${line.slice(0, width - 1)}…`;
  for (const i of order.slice(0, steps).reverse()) {
    if (level[i] === 0) continue;
    level[i]!--;
    if (join().length > width) level[i]!++;
  }
  return join();
}

/** One line per poll on stderr: so far, rate, per server IP, clients, conntrack; at most PROGRESS_WIDTH characters. */
export function progressLine(o: Observation, prev: Observation | null, target: number, phase: Phase = "ramp"): string {
  const head = `[verify ${o.t.toFixed(1).padStart(6)}s${phase === "ramp" ? "" : ` ${phase}`}]`;
  if (!o.server) return fitParts([[`${head} server unreachable (${o.serverError ?? "no answer"}), retrying`]], []);
  const s = o.server;
  const rate = prev?.server && o.t > prev.t ? (s.total - prev.server.total) / (o.t - prev.t) : s.acceptRate;
  const pct = target > 0 ? ` (${((s.total / target) * 100).toFixed(1)}%)` : "";
  const totals = `${head} ${fmt(s.total)}/${fmt(target)}${pct} ${rate >= 0 ? "+" : ""}${fmt(rate)}/s`;
  let clients = [""];
  if (o.clients) {
    const running = o.clients.filter((c) => c.state === "running").length;
    const est = fmt(o.clients.reduce((a, c) => a + (c.status?.established ?? 0), 0));
    const n = `clients ${fmt(running)}/${fmt(o.clients.length)}`;
    clients = o.clients.length === 0 ? ["no client containers"] : [`${n} running, ${est} established`, `${n}, ${est} est.`, n];
  }
  const ct = o.conntrack;
  const conntrack = ct
    ? [
        `conntrack ${fmt(ct.count)}/${fmt(ct.max)}`,
        `conntrack ${fmt(ct.count)} (${ct.max > 0 ? Math.round((ct.count / ct.max) * 100) : 0}%)`,
      ]
    : [""];
  const perIp = perIpVariants(perServerIpOf(s));
  const hosts = hostsProgressVariants(o.hosts);
  const [IP, CLIENTS, CONNTRACK, HOSTS] = [1, 2, 3, 4];
  // Shorten what says least first: the clients' and conntrack's wording, the clients' count
  // (≈ the server's total), then the list of every IP and of every host, then the lagging ones.
  const order = [CLIENTS, CONNTRACK, CLIENTS, HOSTS, ...perIp.slice(1).map(() => IP), ...hosts.slice(2).map(() => HOSTS)];
  return fitParts([[totals], perIp, clients, conntrack, hosts], order);
}
