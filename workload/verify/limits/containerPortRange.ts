// A plateau at the containers' own local port range (Docker's default 32768–60999 unless widened).
import { DOCKER_DEFAULT_PORT_RANGE } from "../../../shared/plan.js";
import { fmt, plural } from "../format.js";
import type { ClientSummary } from "../summary.js";
import type { VerifyPlan } from "../types.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";
import { PLATEAU_LOWER } from "./thresholds.js";

type PortRange = VerifyPlan["containerPortRange"];
/** A container at the wall: of k server IPs' worth of ports. */
type AtWall = { name: string; k: number };

/** The ranges that could be the wall: the plan's and Docker's default, smaller than a NAT pool. */
function candidateRanges(plan: VerifyPlan): PortRange[] {
  const ranges = [plan.containerPortRange, DOCKER_DEFAULT_PORT_RANGE].filter(
    (r, i, all) => all.findIndex((x) => x.size === r.size) === i,
  );
  // With a NAT, a range as big as the NAT pool is indistinguishable from it: leave that to the NAT check.
  return ranges.filter((r) => !plan.natPool || r.size < plan.natPool.size);
}

/** How many server IPs' worth of one range a container holds (k, 0 = not at a wall), and which range. */
function clientWall(c: ClientSummary, candidates: PortRange[], nServers: number): { k: number; range: PortRange | null } {
  for (const r of candidates) {
    for (let n = 1; n <= nServers; n++) {
      if (c.established >= Math.floor(PLATEAU_LOWER * n * r.size) && c.established <= n * r.size) return { k: n, range: r };
    }
  }
  return { k: c.failed.addrnotavail > 0 ? 1 : 0, range: null };
}

/** The containers short of their target at a wall, and the range the last of them points at. */
function walls(f: Facts, candidates: PortRange[]): { atWall: AtWall[]; range: PortRange | null } {
  const atWall: AtWall[] = [];
  let range: PortRange | null = null;
  for (const [name, c] of f.perClient) {
    if (c.target !== null && c.established >= c.target) continue;
    const w = clientWall(c, candidates, f.plan.serverAddresses.length);
    if (w.range) range = w.range;
    if (w.k > 0) atWall.push({ name, k: w.k });
  }
  return { atWall, range };
}

/** "28,232 local ports (Docker's default ip_local_port_range 32768–60999 — not widened: …)". */
function rangeText(plan: VerifyPlan, range: PortRange): string {
  const notWidened =
    range.size === DOCKER_DEFAULT_PORT_RANGE.size && plan.containerPortRange.size !== DOCKER_DEFAULT_PORT_RANGE.size
      ? ` — not widened: the plan assumed ${plan.containerPortRange.from}–${plan.containerPortRange.to}`
      : "";
  const defaultNote =
    range.size === DOCKER_DEFAULT_PORT_RANGE.size ? "Docker's default ip_local_port_range " : "ip_local_port_range ";
  return `${fmt(range.size)} local ports (${defaultNote}${range.from}–${range.to}${notWidened})`;
}

/** Who is at the wall: containers, or container→server IP pairs, × the range per server IP. */
function whoText(plan: VerifyPlan, atWall: AtWall[], ranges: string): string {
  if (atWall.length === 0) {
    const n = plan.containers.filter((c) => c.expected < c.connections).length;
    return `${plural(n, "container")} × ${ranges} per server IP:${plan.serverPort}`;
  }
  if (atWall.every((w) => w.k === 1)) return `${plural(atWall.length, "container")} × ${ranges} per server IP:${plan.serverPort}`;
  const pairs = atWall.reduce((s, w) => s + w.k, 0);
  return `${plural(pairs, "container→server IP pair")} × ${ranges} per server IP:${plan.serverPort}`;
}

function detect(f: Facts): string | null {
  const { plan, total, failures } = f;
  const candidates = candidateRanges(plan);
  const { atWall, range: seen } = walls(f, candidates);
  const planSays =
    plan.bindingLimit === "container-port-range" &&
    f.perClient.length === 0 &&
    total >= Math.floor(PLATEAU_LOWER * plan.predicted);
  if (atWall.length === 0 && !planSays) return null;
  const range = seen ?? candidates[0] ?? plan.containerPortRange;
  const who = whoText(plan, atWall, rangeText(plan, range));
  const evidence = failures.addrnotavail > 0 ? ` (${fmt(failures.addrnotavail)} EADDRNOTAVAIL failures)` : "";
  return (
    `Plateau at ${of(f)} connections = ${who}${evidence}; ` +
    `widen clients.localPortRange to 1024-65535 (the containers' net.ipv4.ip_local_port_range sysctl) or spread over more server IPs.`
  );
}

export const containerPortRange: LimitClass = { limit: "container-port-range", detect };
