// The limit classes the connection test knows (pure): each is a detector over the facts of a run
// that returns its one-sentence explanation (the limit, its numbers, the fix) or null. diagnose()
// tries them in table order; a new class is one entry in REACHED_CLASSES or PLATEAU_CLASSES.
// Sentences stay one line's worth at any scale: lists of IPs or containers are summarized, the
// report has them in full.
import { DOCKER_DEFAULT_PORT_RANGE } from "../../shared/plan.js";
import { FAILURE_CLASSES, type FailureClass, type ServerStats } from "../../shared/protocol.js";
import { briefList, fmt, percent, plural, seconds, shortenIps, signed } from "./format.js";
import { ipSpread } from "./perIp.js";
import type { Observation, Run, VerifyPlan } from "./types.js";
import type {
  ClientSummary,
  ConntrackSummary,
  CrossCheck,
  DiagnoseContext,
  DiagnosedLimit,
  ServerIpRow,
  SharedPortsSummary,
  SoakSummary,
} from "./diagnose.js";

/**
 * A plateau counts as the predicted one from this fraction of plan.predicted up: a NAT pool filled
 * to 100% finds its last free ports slowly (random search), so the final few percent trickle in.
 */
export const PLATEAU_LOWER = 0.97;
/** Conntrack counts as full from this fill (or from 90% once it drops packets). */
export const CONNTRACK_FULL = 0.97;

/** Server total vs the clients' sum may differ by this much (the views are up to a poll apart). */
export function crossCheckTolerance(n: number): number {
  return Math.max(50, Math.ceil(n * 0.01));
}

/** Above the prediction, a plateau still matches up to this. */
export function plateauUpper(predicted: number): number {
  return predicted + crossCheckTolerance(predicted);
}

/** The last item that `pick` accepts. */
export function last<T>(items: T[], pick: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (pick(items[i]!)) return items[i];
  return undefined;
}

/** Everything the detectors read about one run. */
export interface Facts {
  plan: VerifyPlan;
  run: Run;
  ctx: DiagnoseContext;
  total: number;
  server: ServerStats | null;
  lastServerObs: Observation | undefined;
  observations: Observation[];
  perClient: [string, ClientSummary][];
  /** Containers down at the end (exited, restarting, dead...). */
  down: [string, ClientSummary][];
  /** Containers that restarted (or were OOM-killed) but run again. */
  restarted: [string, ClientSummary][];
  failures: Record<FailureClass, number>;
  conntrack: ConntrackSummary | null;
  serverIps: ServerIpRow[];
  sharedSourcePorts: SharedPortsSummary;
  crossCheck: CrossCheck | null;
  soak: SoakSummary | null;
}

export interface LimitClass {
  limit: DiagnosedLimit;
  /** The sentence when the run shows this limit, else null. */
  detect: (f: Facts) => string | null;
}

const of = (f: Facts) => `${fmt(f.total)} of ${fmt(f.plan.target)}`;

// --- The target was reached, yet something is wrong.

/** Connections lost during the soak (the target had been reached). */
export function soakLoss(f: Facts): string | null {
  const { soak } = f;
  if (!soak || (soak.lost === 0 && soak.clientsDropped === 0)) return null;
  const lost = Math.max(soak.lost, soak.clientsDropped);
  const dropped = soak.clientsDropped > 0 ? `; clients dropped ${signed(soak.clientsDropped)}` : "";
  return (
    `Lost ${fmt(lost)} of ${fmt(soak.start)} connections during the ${seconds(soak.seconds)} soak (server ${fmt(soak.start)} → ${fmt(soak.end)}, ` +
    `lowest ${fmt(soak.min)}${dropped}); check conntrack's nf_conntrack_tcp_timeout_established, the server's memory and the clients' errors.`
  );
}

/** Server and clients disagree beyond the cross-check tolerance. */
export function halfOpen(f: Facts): string | null {
  const c = f.crossCheck;
  if (!c || c.ok) return null;
  const why =
    c.difference > 0
      ? "the server holds connections the clients no longer have (FIN/RST lost behind the NAT, clients restarted)"
      : "the clients count connections the server does not hold (its side was closed or never accepted)";
  return (
    `Cross-check failed: the server holds ${fmt(c.server)} connections but the clients report ${fmt(c.clients)} established ` +
    `(${signed(c.difference)}, beyond the tolerance of ${fmt(c.tolerance)}): half-open connections — ${why}; ` +
    `check conntrack's nf_conntrack_tcp_timeout_established and the clients' ping interval.`
  );
}

/** Everything connected although the plan (and expect: plateau) said it would not. */
function beyondPlan(f: Facts): string | null {
  const { plan } = f;
  if (!(plan.predicted < plan.target && f.ctx.expect === "plateau")) return null;
  return (
    `All ${fmt(f.total)} connections were established, but the plan predicted a plateau at ${fmt(plan.predicted)} (${plan.bindingLimit}): ` +
    `the lab holds more than planned (a wider NAT pool or more client source IPs than the plan assumed); re-run the plan with the real topology.`
  );
}

/** In order: the first that matches fails a run that reached its target. */
export const REACHED_CLASSES: LimitClass[] = [
  { limit: "soak-loss", detect: soakLoss },
  { limit: "half-open", detect: halfOpen },
  { limit: "none", detect: beyondPlan },
];

// --- The server's view is gone.

export function serverUnreachable(f: Facts): string | null {
  if (f.observations.at(-1)?.server !== null) return null;
  const url = f.ctx.metricsUrl ?? "the server's /stats";
  const lastErr = last(f.observations, (o) => o.serverError !== null)?.serverError ?? "no answer";
  const clientSum = f.perClient.reduce((s, [, c]) => s + c.established, 0);
  const clientsText = f.perClient.length > 0 ? `; the clients report ${fmt(clientSum)} established` : "";
  if (!f.lastServerObs) {
    return (
      `Server unreachable: ${url} did not answer any of ${plural(f.observations.length, "poll")} over ${seconds(f.run.timeoutSeconds)} ` +
      `(${lastErr})${clientsText}; check that the server runs and that its metrics address is reachable from here.`
    );
  }
  return (
    `Server unreachable: ${url} stopped answering after ${seconds(f.lastServerObs.t)} (last seen ${fmt(f.lastServerObs.server!.total)} connections; ` +
    `${lastErr})${clientsText}; check the server process (crashed or OOM-killed?) and its host.`
  );
}

// --- A plateau below the target: which limit?

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

function crashedSentence(f: Facts, crashed: [string, ClientSummary][]): string | null {
  const first = crashed[0];
  if (!first) return null;
  const said = first[1].lastError ? ` (last said: "${first[1].lastError.slice(0, 120)}")` : "";
  return (
    `Client containers crashed: ${crashedList(crashed)}, with ${of(f)} connections established; ` +
    `see docker logs ${first[0]}${said} and check the containers' memory and ulimits.`
  );
}

export function failureList(failures: Record<FailureClass, number>): string {
  const items = FAILURE_CLASSES.filter((k) => failures[k] > 0).map((k) => `${fmt(failures[k])} ${k}`);
  return items.length > 0 ? items.join(", ") : "no failures";
}

/** "c1m-client-0: 9,900 and c1m-client-1: 9,800 established", or over many "9,800–9,900 established each". */
function heldBy(clients: [string, ClientSummary][]): string {
  if (clients.length <= 3) return `${briefList(clients.map(([n, c]) => `${n}: ${fmt(c.established)}`))} established`;
  const counts = clients.map(([, c]) => c.established);
  const [lo, hi] = [Math.min(...counts), Math.max(...counts)];
  return `${lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`} established each`;
}

/** The clients' own open-file limit: EMFILE on connect. */
function clientFdLimit(f: Facts): string | null {
  if (f.failures.emfile === 0) return null;
  const hit = f.perClient.filter(([, c]) => c.failed.emfile > 0);
  return (
    `Plateau at ${of(f)} connections: the clients hit their open-file (fd) limit — ${fmt(f.failures.emfile)} connects failed with EMFILE ` +
    `in ${plural(hit.length, "container")} (${heldBy(hit)}); raise the containers' nofile ulimit ` +
    `(at most the Docker daemon's LimitNOFILE) or run more containers with fewer connections each.`
  );
}

/**
 * Server workers at their fd limit: a worker past it gets EMFILE on accept, and libuv closes what
 * the kernel had completed, so the clients see connections established and then dropped.
 * Evidence: /stats' optional per-worker fields (workers at capacity, accept errors) and drops.
 */
function serverFdLimit(f: Facts): string | null {
  const { plan, server } = f;
  if (!server) return null;
  const capacity = server.capacityPerWorker;
  const atCapacity =
    server.workersAtCapacity ?? (capacity !== undefined ? (server.perWorker ?? []).filter((w) => w.total >= capacity).length : 0);
  const acceptErrors = server.acceptErrors ?? 0;
  const dropped = f.perClient.reduce((s, [, c]) => s + c.dropped, 0);
  if (atCapacity === 0 && acceptErrors === 0) return null;
  if (dropped === 0 && acceptErrors === 0) return null;
  const closed = Math.max(dropped, acceptErrors);
  const held =
    server.perWorker && server.perWorker.length > 0
      ? ` (per worker: ${fmt(Math.min(...server.perWorker.map((w) => w.total)))}–${fmt(Math.max(...server.perWorker.map((w) => w.total)))} live` +
        `${capacity !== undefined ? `, capacity ${fmt(capacity)}` : ""})`
      : "";
  const need = capacity ? Math.ceil(plan.target / capacity) : undefined;
  return (
    `Plateau at ${of(f)} connections: server workers at their fd limit: ${fmt(closed)} accepted connections closed ` +
    `(${plural(atCapacity, "worker")} of ${fmt(server.workers)} at capacity${held}${acceptErrors > 0 ? `, ${fmt(acceptErrors)} accept errors` : ""}); ` +
    `add workers (server.workers${need !== undefined ? ` ≥ ${fmt(need)} with headroom for uneven accepts` : ""}) or raise their open-file limit.`
  );
}

/** The NAT host's conntrack table full (or nearly, and dropping). */
function conntrackFull(f: Facts): string | null {
  const c = f.conntrack;
  if (!c || !(c.fill >= CONNTRACK_FULL || (c.fill >= 0.9 && c.delta.drop + c.delta.earlyDrop > 0))) return null;
  const d = c.delta;
  return (
    `Plateau at ${of(f)} connections: the NAT host's conntrack table is full (nf_conntrack_count ${fmt(c.count)} of ` +
    `nf_conntrack_max ${fmt(c.max)}; drop ${signed(d.drop)}, early_drop ${signed(d.earlyDrop)}, insert_failed ${signed(d.insertFailed)}); ` +
    `raise net.netfilter.nf_conntrack_max well above ${fmt(f.plan.target)} (tuning.raiseHostLimits or tuning.sysctls).`
  );
}

/** Planned server IP:ports no connection reached. */
function silentAddresses(f: Facts): string[] {
  return f.serverIps.filter((r) => r.measured === 0 && r.planExpected > 0).map((r) => `${r.ip}:${f.plan.serverPort}`);
}

/** "no connection reached 10.201.0.3:9000" / "no connection reached 12 of 54 server IPs (10.201.6.9, .10, .11 and 9 more)". */
function silentText(f: Facts, silent: string[]): string {
  if (silent.length <= 3) return `no connection reached ${briefList(silent)}`;
  const ips = shortenIps(silent.map((s) => s.slice(0, s.lastIndexOf(":"))));
  return `no connection reached ${fmt(silent.length)} of ${plural(f.plan.serverAddresses.length, "server IP")} (${briefList(ips)})`;
}

/** The server's addresses for a sentence: all of a few, else the count and the first and last. */
function addressesText(addresses: string[]): string {
  if (addresses.length <= 4) return briefList(addresses, 4);
  return `all ${fmt(addresses.length)}, ${addresses[0]} … ${addresses.at(-1)}`;
}

/** Nothing listens on (some of) the server addresses: RSTs. */
function serverRefused(f: Facts): string | null {
  const { failures, plan } = f;
  const silent = silentAddresses(f);
  const maxOther = Math.max(...FAILURE_CLASSES.filter((c) => c !== "refused").map((c) => failures[c]));
  if (!(failures.refused > 0 && (failures.refused >= maxOther || silent.length > 0))) return null;
  const where = silent.length > 0 ? ` and ${silentText(f, silent)}` : "";
  return (
    `Connects refused: the clients got ${fmt(failures.refused)} refusals (RST)${where}, with ${of(f)} connections established; ` +
    `nothing listens there — check that the server runs and listens on every server address (${addressesText(plan.serverAddresses)}) at port ${plan.serverPort}.`
  );
}

/** A plateau at the containers' own local port range (Docker's default 32768–60999 unless widened). */
function containerPortRange(f: Facts): string | null {
  const { plan, total, failures } = f;
  const nServers = plan.serverAddresses.length;
  const ranges = [plan.containerPortRange, DOCKER_DEFAULT_PORT_RANGE].filter(
    (r, i, all) => all.findIndex((x) => x.size === r.size) === i,
  );
  // With a NAT, a range as big as the NAT pool is indistinguishable from it: leave that to the NAT check.
  const candidates = ranges.filter((r) => !plan.natPool || r.size < plan.natPool.size);
  let range = candidates[0] ?? plan.containerPortRange;
  const atWall: { name: string; k: number }[] = [];
  for (const [name, c] of f.perClient) {
    if (c.target !== null && c.established >= c.target) continue;
    let k = 0;
    for (const r of candidates) {
      for (let n = 1; n <= nServers && k === 0; n++) {
        if (c.established >= Math.floor(PLATEAU_LOWER * n * r.size) && c.established <= n * r.size) {
          k = n;
          range = r;
        }
      }
    }
    if (k === 0 && c.failed.addrnotavail > 0) k = 1;
    if (k > 0) atWall.push({ name, k });
  }
  const planSays =
    plan.bindingLimit === "container-port-range" &&
    f.perClient.length === 0 &&
    total >= Math.floor(PLATEAU_LOWER * plan.predicted);
  if (atWall.length === 0 && !planSays) return null;

  const notWidened =
    range.size === DOCKER_DEFAULT_PORT_RANGE.size && plan.containerPortRange.size !== DOCKER_DEFAULT_PORT_RANGE.size
      ? ` — not widened: the plan assumed ${plan.containerPortRange.from}–${plan.containerPortRange.to}`
      : "";
  const defaultNote =
    range.size === DOCKER_DEFAULT_PORT_RANGE.size ? "Docker's default ip_local_port_range " : "ip_local_port_range ";
  const rangeText = `${fmt(range.size)} local ports (${defaultNote}${range.from}–${range.to}${notWidened})`;
  let who: string;
  if (atWall.length === 0) {
    const n = plan.containers.filter((c) => c.expected < c.connections).length;
    who = `${plural(n, "container")} × ${rangeText} per server IP:${plan.serverPort}`;
  } else if (atWall.every((w) => w.k === 1)) {
    who = `${plural(atWall.length, "container")} × ${rangeText} per server IP:${plan.serverPort}`;
  } else {
    const pairs = atWall.reduce((s, w) => s + w.k, 0);
    who = `${plural(pairs, "container→server IP pair")} × ${rangeText} per server IP:${plan.serverPort}`;
  }
  const evidence = failures.addrnotavail > 0 ? ` (${fmt(failures.addrnotavail)} EADDRNOTAVAIL failures)` : "";
  return (
    `Plateau at ${of(f)} connections = ${who}${evidence}; ` +
    `widen clients.localPortRange to 1024-65535 (the containers' net.ipv4.ip_local_port_range sysctl) or spread over more server IPs.`
  );
}

/** A plateau at the NAT's source-port pool: per (client source IP, server IP, port) path. */
function natPool(f: Facts): string | null {
  const { plan, total, server, conntrack, failures } = f;
  const pool = plan.natPool;
  if (!pool) return null;
  const remotes = Object.entries(server?.perRemoteIp ?? {}).filter(([, n]) => n > 0).length;
  const sources = Math.max(1, remotes > 0 ? remotes : plan.clientSources.length);
  const wallPerIp = pool.size * sources;
  const saturated = f.serverIps.filter(
    (r) => r.measured >= Math.floor(PLATEAU_LOWER * wallPerIp) && r.measured <= plateauUpper(wallPerIp),
  );
  const planSays =
    plan.bindingLimit === "nat-pool" &&
    total >= Math.floor(PLATEAU_LOWER * plan.predicted) &&
    total <= plateauUpper(plan.predicted);
  if (saturated.length === 0 && !planSays) return null;

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
  const evidence: string[] = [];
  if (conntrack) evidence.push(`conntrack insert_failed ${signed(conntrack.delta.insertFailed)}`);
  if (failures.timeout > 0) evidence.push(`${fmt(failures.timeout)} connect timeouts`);
  const ev = evidence.length > 0 ? ` (${evidence.join(", ")})` : "";
  return (
    `Plateau at ${fmt(total)} of ${fmt(plan.target)} connections ${exact} the NAT source-port pool ${pool.from}–${pool.to} ` +
    `(${fmt(pool.size)} ports) for ${sources} client IP × ${serversText}:${plan.serverPort}${math}${share}${ev}; ` +
    `add server IPs (server.secondaryAddresses, netplan) or client source IPs (clients.sourceIps).`
  );
}

/** Connections per second over the last `window` seconds of server samples. */
export function recentRate(observations: Observation[], window: number): number {
  const pts = observations.filter((o) => o.server !== null);
  const end = pts.at(-1);
  if (!end) return 0;
  const start = last(pts, (o) => o.t <= end.t - window) ?? pts[0]!;
  const dt = end.t - start.t;
  return dt > 0 ? Math.max(0, (end.server!.total - start.server!.total) / dt) : 0;
}

/** The deadline came while connections were still rising. */
function stillRamping(f: Facts): string | null {
  if (f.run.stopReason !== "timeout") return null;
  const rate = recentRate(f.observations, f.run.stallSeconds);
  if (rate <= 0) return null;
  return (
    `Timed out after ${seconds(f.run.timeoutSeconds)} at ${of(f)} connections, still rising at ${fmt(rate)}/s ` +
    `(plan predicted ${fmt(f.plan.predicted)}); raise test.timeoutSeconds or clients.connectRate.`
  );
}

/** SYNs lost on the way: the clients time out. */
function connectTimeouts(f: Facts): string | null {
  if (f.failures.timeout === 0) return null;
  return (
    `Plateau at ${of(f)} connections (plan predicted ${fmt(f.plan.predicted)}): the clients report ${fmt(f.failures.timeout)} connect timeouts — ` +
    `SYNs are dropped on the way (firewall, NAT or conntrack on the client host); check the iptables counters and dmesg.`
  );
}

/** No known class: what is known, for a start. */
export function unknownLimit(f: Facts): string {
  const silent = silentAddresses(f);
  const hints: string[] = [];
  if (silent.length > 0) hints.push(silentText(f, silent));
  if (f.perClient.length === 0) hints.push("no client view to classify failures (pass --clients-label)");
  else if (f.failures.other + f.failures.reset + f.failures.addrnotavail > 0)
    hints.push(`clients counted ${failureList(f.failures)}`);
  return (
    `Plateau at ${of(f)} connections, below the plan's ${fmt(f.plan.predicted)} (${f.plan.bindingLimit}), and no known limit matches` +
    `${hints.length > 0 ? `: ${hints.join("; ")}` : ""}.`
  );
}

/**
 * The limit behind a plateau, most direct evidence first: containers that are down, then what
 * the clients' failure classes and conntrack say, then the walls the plan's numbers predict;
 * containers that restarted but run again only explain a plateau nothing else explains.
 */
export const PLATEAU_CLASSES: LimitClass[] = [
  { limit: "clients-crashed", detect: (f) => crashedSentence(f, f.down) },
  { limit: "client-fd-limit", detect: clientFdLimit },
  { limit: "server-fd-limit", detect: serverFdLimit },
  { limit: "conntrack", detect: conntrackFull },
  { limit: "server-refused", detect: serverRefused },
  { limit: "container-port-range", detect: containerPortRange },
  { limit: "nat-pool", detect: natPool },
  { limit: "clients-crashed", detect: (f) => crashedSentence(f, f.restarted) },
  { limit: "still-ramping", detect: stillRamping },
  { limit: "connect-timeouts", detect: connectTimeouts },
];

/** The first class in `classes` that matches, with its sentence. */
export function firstMatch(classes: LimitClass[], f: Facts): { limit: DiagnosedLimit; sentence: string } | null {
  for (const c of classes) {
    const sentence = c.detect(f);
    if (sentence !== null) return { limit: c.limit, sentence };
  }
  return null;
}

/** "54 server IPs (18,513–18,564 each)" (the IPs that hold connections); listed when few. */
export function perIpText(rows: ServerIpRow[]): string {
  const used = rows.filter((r) => r.measured > 0);
  if (used.length <= 4) return `${used.length} server IPs (${used.map((r) => `${r.ip}: ${fmt(r.measured)}`).join(", ")})`;
  const s = ipSpread(Object.fromEntries(used.map((r) => [r.ip, r.measured])))!;
  return `${fmt(s.count)} server IPs (${s.min === s.max ? fmt(s.min) : `${fmt(s.min)}–${fmt(s.max)}`} each)`;
}
