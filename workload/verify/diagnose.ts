// The connection test's judgement (pure): joins the server's, the clients' and conntrack's view
// of a run, compares the measurement with the capacity plan, and explains the outcome in one
// sentence that names the limit, its numbers and the fix.
import { DOCKER_DEFAULT_PORT_RANGE } from "../../infra/capacity.js";
import { FAILURE_CLASSES, type FailureClass, type ServerStats } from "../protocol.js";
import { abbreviateAddresses, fmt, ipOfHostPort, joinAnd, percent, plural, seconds, signed } from "./format.js";
import type { ClientObservation, ConntrackReading, Expect, Observation, Run, StopReason, VerifyPlan } from "./types.js";

export type Verdict = "pass" | "plateau-as-expected" | "fail";

/** The limit the measurement points at ("none" when everything connected and held). */
export type DiagnosedLimit =
  | "none"
  | "nat-pool"
  | "container-port-range"
  | "client-fd-limit"
  | "server-fd-limit"
  | "conntrack"
  | "server-unreachable"
  | "server-refused"
  | "clients-crashed"
  | "half-open"
  | "soak-loss"
  | "still-ramping"
  | "connect-timeouts"
  | "unknown";

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

export interface DiagnoseContext {
  expect: Expect;
  /** For the sentences: where /stats was fetched, how clients were found. */
  metricsUrl?: string;
  clientsLabel?: string | null;
}

export interface ClientSummary {
  state: string;
  exitCode: number | null;
  restartCount: number;
  oomKilled: boolean;
  /** Not running, restarted, or OOM-killed. */
  crashed: boolean;
  /** Whether it has printed a status line yet. */
  reported: boolean;
  established: number;
  target: number | null;
  failed: Record<FailureClass, number>;
  failedTotal: number;
  dropped: number;
  lastError: string | null;
}

export interface ConntrackSummary {
  count: number;
  max: number;
  fill: number;
  start: ConntrackReading;
  end: ConntrackReading;
  /** Counter increases over the test. */
  delta: { insertFailed: number; drop: number; earlyDrop: number; searchRestart: number };
}

export interface SharedPortsSummary {
  /** Source ports (over all remote IPs) in use toward more than one server address at once. */
  total: number;
  perRemoteIp: ServerStats["sharedSourcePorts"];
  /** "source port 37816 of 10.201.0.1 reaches 10.201.0.2, .3 and .4 at once", or null. */
  example: string | null;
}

export interface ServerIpRow {
  ip: string;
  measured: number;
  /** Sum over the plan's paths to this IP. */
  planLoad: number;
  planExpected: number;
  planCapacity: number;
  paths: number;
}

export interface CrossCheck {
  server: number;
  clients: number;
  difference: number;
  tolerance: number;
  ok: boolean;
}

export interface SoakSummary {
  seconds: number;
  start: number;
  end: number;
  min: number;
  lost: number;
  clientsDropped: number;
}

export interface Diagnosis {
  verdict: Verdict;
  limit: DiagnosedLimit;
  diagnosis: string;
  total: number;
  totalSource: "server" | "clients" | "none";
  target: number;
  predicted: number;
  ceiling: number;
  bindingLimit: VerifyPlan["bindingLimit"];
  expect: Expect;
  stopReason: StopReason;
  durationSeconds: number;
  rampSeconds: number | null;
  perServerIp: Record<string, number>;
  serverIps: ServerIpRow[];
  /** null = client view not observed; {} = observed, none found. */
  perClient: Record<string, ClientSummary> | null;
  failures: Record<FailureClass, number>;
  conntrack: ConntrackSummary | null;
  sharedSourcePorts: SharedPortsSummary;
  crossCheck: CrossCheck | null;
  soak: SoakSummary | null;
  warnings: string[];
}

const zeroFailures = (): Record<FailureClass, number> =>
  Object.fromEntries(FAILURE_CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>;

function last<T>(items: T[], pick: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (pick(items[i]!)) return items[i];
  return undefined;
}

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

export function summarizeClient(c: ClientObservation): ClientSummary {
  const failed = { ...zeroFailures(), ...(c.status?.failed ?? {}) };
  return {
    state: c.state,
    exitCode: c.exitCode,
    restartCount: c.restartCount,
    oomKilled: c.oomKilled,
    crashed: c.state !== "running" || c.restartCount > 0 || c.oomKilled,
    reported: c.status !== null,
    established: c.status?.established ?? 0,
    target: c.status?.target ?? null,
    failed,
    failedTotal: FAILURE_CLASSES.reduce((s, k) => s + failed[k], 0),
    dropped: c.status?.dropped ?? 0,
    lastError: c.lastError,
  };
}

export function summarizeConntrack(observations: Observation[]): ConntrackSummary | null {
  const readings = observations.map((o) => o.conntrack).filter((c): c is ConntrackReading => c !== null);
  const start = readings[0];
  const end = readings.at(-1);
  if (!start || !end) return null;
  const d = (k: keyof ConntrackReading) => Math.max(0, end[k] - start[k]);
  return {
    count: end.count,
    max: end.max,
    fill: end.max > 0 ? end.count / end.max : 0,
    start,
    end,
    delta: { insertFailed: d("insertFailed"), drop: d("drop"), earlyDrop: d("earlyDrop"), searchRestart: d("searchRestart") },
  };
}

export function summarizeSharedPorts(stats: ServerStats | null): SharedPortsSummary {
  const perRemoteIp = stats?.sharedSourcePorts ?? {};
  let total = 0;
  let example: string | null = null;
  for (const [remote, { count, example: ex }] of Object.entries(perRemoteIp)) {
    total += count;
    if (example === null && ex && ex.localAddresses.length > 1) {
      example = `source port ${ex.port} of ${remote} reaches ${abbreviateAddresses(ex.localAddresses)} at once`;
    }
  }
  return { total, perRemoteIp, example };
}

/** Judges one run. */
export function diagnose(plan: VerifyPlan, run: Run, ctx: DiagnoseContext): Diagnosis {
  const { observations } = run;
  const { target, predicted } = plan;
  const lastObs = observations.at(-1);
  const lastServerObs = last(observations, (o) => o.server !== null);
  const server = lastServerObs?.server ?? null;
  const lastClientsObs = last(observations, (o) => o.clients !== null);
  const clients = lastClientsObs?.clients ?? null;
  const warnings: string[] = [...plan.warnings];

  // --- the clients' view
  let perClient: Record<string, ClientSummary> | null = null;
  const failures = zeroFailures();
  let clientsEstablished = 0;
  let unreported = 0;
  let clientTargets = 0;
  if (clients !== null) {
    perClient = {};
    for (const c of [...clients].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }))) {
      const s = summarizeClient(c);
      perClient[c.name] = s;
      for (const k of FAILURE_CLASSES) failures[k] += s.failed[k];
      clientsEstablished += s.established;
      clientTargets += s.target ?? 0;
      if (!s.reported && s.state === "running") unreported++;
    }
    if (clients.length === 0) {
      warnings.push(
        `no client containers found${ctx.clientsLabel ? ` with label ${ctx.clientsLabel}` : ""}: judged on the server view alone (no per-client table, no cross-check).`,
      );
    }
  } else {
    const err = lastObs?.clientsError ?? null;
    warnings.push(
      err
        ? `client view unavailable (${err}): judged on the server view alone.`
        : "client view not observed (no --clients-label): judged on the server view alone.",
    );
  }
  const clientList = perClient ? Object.entries(perClient) : [];
  const haveClients = clientList.length > 0;

  // --- totals
  const total = server ? server.total : haveClients ? clientsEstablished : 0;
  const totalSource: Diagnosis["totalSource"] = server ? "server" : haveClients ? "clients" : "none";
  const perServerIp = perServerIpOf(server, plan.serverAddresses);
  const serverIps: ServerIpRow[] = Object.entries(perServerIp).map(([ip, measured]) => {
    const paths = plan.paths.filter((p) => p.server === ip);
    return {
      ip,
      measured,
      planLoad: paths.reduce((s, p) => s + p.load, 0),
      planExpected: paths.reduce((s, p) => s + p.expected, 0),
      planCapacity: paths.reduce((s, p) => s + p.capacity, 0),
      paths: paths.length,
    };
  });
  const conntrack = summarizeConntrack(observations);
  if (conntrack === null) {
    const err = last(observations, (o) => o.conntrackError !== null)?.conntrackError;
    if (err) warnings.push(`conntrack not read: ${err}.`);
  }
  const sharedSourcePorts = summarizeSharedPorts(server);
  const totals = observations.filter((o) => o.server !== null).map((o) => ({ t: o.t, n: o.server!.total }));
  const maxTotal = Math.max(0, ...totals.map((x) => x.n));
  const reachedAt = totals.find((x) => x.n >= target);
  const peakAt = totals.find((x) => x.n >= maxTotal && maxTotal > 0);
  const rampSeconds = reachedAt?.t ?? peakAt?.t ?? null;
  const durationSeconds = lastObs?.t ?? 0;
  const unreachablePolls = observations.filter((o) => o.server === null).length;
  if (server && unreachablePolls > 0)
    warnings.push(`/stats did not answer ${plural(unreachablePolls, "poll")} of ${observations.length}.`);
  if (haveClients && clientTargets > 0 && clientTargets !== target) {
    warnings.push(`the clients' targets add up to ${fmt(clientTargets)}, the plan's target is ${fmt(target)}.`);
  }

  // --- cross-check: server vs clients
  let crossCheck: CrossCheck | null = null;
  if (server && haveClients && unreported === 0) {
    const difference = server.total - clientsEstablished;
    const tolerance = crossCheckTolerance(Math.max(server.total, clientsEstablished));
    crossCheck = {
      server: server.total,
      clients: clientsEstablished,
      difference,
      tolerance,
      ok: Math.abs(difference) <= tolerance,
    };
  } else if (server && haveClients) {
    warnings.push(`cross-check skipped: ${plural(unreported, "running container")} printed no status line yet.`);
  }

  // --- soak
  let soak: SoakSummary | null = null;
  if (run.soakStartIndex !== null) {
    const during = observations.slice(run.soakStartIndex).filter((o) => o.server !== null);
    const first = during[0];
    const end = during.at(-1);
    if (first && end) {
      const droppedAt = (o: Observation) => (o.clients ?? []).reduce((s, c) => s + (c.status?.dropped ?? 0), 0);
      const soakClients = observations.slice(run.soakStartIndex).filter((o) => o.clients !== null);
      const clientsDropped =
        soakClients.length > 0 ? Math.max(0, droppedAt(soakClients.at(-1)!) - droppedAt(soakClients[0]!)) : 0;
      const min = Math.min(...during.map((o) => o.server!.total));
      soak = {
        seconds: end.t - first.t,
        start: first.server!.total,
        end: end.server!.total,
        min,
        lost: Math.max(0, first.server!.total - min),
        clientsDropped,
      };
    }
  }

  // Down at the end (exited, restarting, dead...) vs restarted but running again.
  const down = clientList.filter(([, c]) => c.state !== "running");
  const restarted = clientList.filter(([, c]) => c.state === "running" && (c.restartCount > 0 || c.oomKilled));
  // A soak only starts once the target was reached; losses during it are judged as losses.
  const reached = run.soakStartIndex !== null || total >= target;
  const planPlateau = predicted < target;
  const inPlateauBand = total >= Math.floor(PLATEAU_LOWER * predicted) && total <= plateauUpper(predicted);

  const base = {
    total,
    totalSource,
    target,
    predicted,
    ceiling: plan.ceiling,
    bindingLimit: plan.bindingLimit,
    expect: ctx.expect,
    stopReason: run.stopReason,
    durationSeconds,
    rampSeconds,
    perServerIp,
    serverIps,
    perClient,
    failures,
    conntrack,
    sharedSourcePorts,
    crossCheck,
    soak,
    warnings,
  };
  const done = (verdict: Verdict, limit: DiagnosedLimit, diagnosis: string): Diagnosis => ({
    verdict,
    limit,
    diagnosis,
    ...base,
  });

  // Facts the sentences use.
  const facts: Facts = {
    plan,
    run,
    ctx,
    total,
    server,
    lastServerObs,
    observations,
    perClient: clientList,
    failures,
    conntrack,
    serverIps,
    sharedSourcePorts,
    unreachablePolls,
  };

  // 1. The server's view is gone: nothing else can be trusted.
  if (lastObs && lastObs.server === null) return done("fail", "server-unreachable", unreachableSentence(facts));

  if (reached) {
    const crashed = [...down, ...restarted];
    if (crashed.length > 0) warnings.push(`${crashedList(crashed)} during the test, yet the target was reached.`);
    if (failures.emfile + failures.refused + failures.addrnotavail + failures.timeout > 0) {
      warnings.push(`clients counted ${failureList(failures)} on the way (retried).`);
    }
    if (soak && (soak.lost > 0 || soak.clientsDropped > 0)) return done("fail", "soak-loss", soakSentence(facts, soak));
    if (crossCheck && !crossCheck.ok) return done("fail", "half-open", halfOpenSentence(crossCheck));
    if (planPlateau && ctx.expect === "plateau") {
      return done(
        "fail",
        "none",
        `All ${fmt(total)} connections were established, but the plan predicted a plateau at ${fmt(predicted)} (${plan.bindingLimit}): ` +
          `the lab holds more than planned (a wider NAT pool or more client source IPs than the plan assumed); re-run the plan with the real topology.`,
      );
    }
    return done("pass", "none", passSentence(facts, soak));
  }

  // 2. Not reached: which limit?
  const [limit, sentence] = classify(facts, down, restarted);
  if (limit !== "clients-crashed" && restarted.length > 0) warnings.push(`${crashedList(restarted)} during the test.`);
  const planLimitMatches = limit === plan.bindingLimit;
  if (ctx.expect === "plateau" && planPlateau && planLimitMatches && inPlateauBand) {
    if (crossCheck && !crossCheck.ok) return done("fail", "half-open", halfOpenSentence(crossCheck));
    return done("plateau-as-expected", limit, sentence);
  }
  if (ctx.expect === "plateau" && planPlateau) {
    const expected = `the plan expected a ${plan.bindingLimit} plateau at ${fmt(predicted)}`;
    return done("fail", limit, sentence.replace(/\.$/, `; ${expected}.`));
  }
  return done("fail", limit, sentence);
}

interface Facts {
  plan: VerifyPlan;
  run: Run;
  ctx: DiagnoseContext;
  total: number;
  server: ServerStats | null;
  lastServerObs: Observation | undefined;
  observations: Observation[];
  perClient: [string, ClientSummary][];
  failures: Record<FailureClass, number>;
  conntrack: ConntrackSummary | null;
  serverIps: ServerIpRow[];
  sharedSourcePorts: SharedPortsSummary;
  unreachablePolls: number;
}

/**
 * The limit behind a plateau, most direct evidence first: containers that are down, then what
 * the clients' failure classes and conntrack say, then the walls the plan's numbers predict;
 * containers that restarted but run again only explain a plateau nothing else explains.
 */
function classify(f: Facts, down: [string, ClientSummary][], restarted: [string, ClientSummary][]): [DiagnosedLimit, string] {
  const { plan, total, failures, conntrack } = f;
  const of = `${fmt(total)} of ${fmt(plan.target)}`;
  const maxOther = (k: FailureClass) => Math.max(...FAILURE_CLASSES.filter((c) => c !== k).map((c) => failures[c]));
  const crashedSentence = (crashed: [string, ClientSummary][]): [DiagnosedLimit, string] => {
    const first = crashed[0]!;
    const said = first[1].lastError ? ` (last said: "${first[1].lastError.slice(0, 120)}")` : "";
    return [
      "clients-crashed",
      `Client containers crashed: ${crashedList(crashed)}, with ${of} connections established; ` +
        `see docker logs ${first[0]}${said} and check the containers' memory and ulimits.`,
    ];
  };

  if (down.length > 0) return crashedSentence(down);

  if (failures.emfile > 0) {
    const hit = f.perClient.filter(([, c]) => c.failed.emfile > 0);
    const held = hit.map(([n, c]) => `${n}: ${fmt(c.established)}`).join(", ");
    return [
      "client-fd-limit",
      `Plateau at ${of} connections: the clients hit their open-file (fd) limit — ${fmt(failures.emfile)} connects failed with EMFILE ` +
        `in ${plural(hit.length, "container")} (${held} established); raise the containers' nofile ulimit ` +
        `(at most the Docker daemon's LimitNOFILE) or run more containers with fewer connections each.`,
    ];
  }

  const serverFd = serverFdWall(f);
  if (serverFd) return ["server-fd-limit", serverFd];

  if (
    conntrack &&
    (conntrack.fill >= CONNTRACK_FULL || (conntrack.fill >= 0.9 && conntrack.delta.drop + conntrack.delta.earlyDrop > 0))
  ) {
    const d = conntrack.delta;
    return [
      "conntrack",
      `Plateau at ${of} connections: the NAT host's conntrack table is full (nf_conntrack_count ${fmt(conntrack.count)} of ` +
        `nf_conntrack_max ${fmt(conntrack.max)}; drop ${signed(d.drop)}, early_drop ${signed(d.earlyDrop)}, insert_failed ${signed(d.insertFailed)}); ` +
        `raise net.netfilter.nf_conntrack_max well above ${fmt(plan.target)} (tuning.raiseHostLimits or tuning.sysctls).`,
    ];
  }

  const silent = f.serverIps.filter((r) => r.measured === 0 && r.planExpected > 0).map((r) => `${r.ip}:${plan.serverPort}`);
  if (failures.refused > 0 && (failures.refused >= maxOther("refused") || silent.length > 0)) {
    const where = silent.length > 0 ? ` and no connection reached ${joinAnd(silent)}` : "";
    return [
      "server-refused",
      `Connects refused: the clients got ${fmt(failures.refused)} refusals (RST)${where}, with ${of} connections established; ` +
        `nothing listens there — check that the server runs and listens on every server address (${joinAnd(plan.serverAddresses)}) at port ${plan.serverPort}.`,
    ];
  }

  const portWall = containerPortWall(f);
  if (portWall) return ["container-port-range", portWall];

  const natWall = natPoolWall(f);
  if (natWall) return ["nat-pool", natWall];

  if (restarted.length > 0) return crashedSentence(restarted);

  if (f.run.stopReason === "timeout") {
    const rate = recentRate(f.observations, f.run.stallSeconds);
    if (rate > 0) {
      return [
        "still-ramping",
        `Timed out after ${seconds(f.run.timeoutSeconds)} at ${of} connections, still rising at ${fmt(rate)}/s ` +
          `(plan predicted ${fmt(plan.predicted)}); raise test.timeoutSeconds or clients.connectRate.`,
      ];
    }
  }

  if (failures.timeout > 0) {
    return [
      "connect-timeouts",
      `Plateau at ${of} connections (plan predicted ${fmt(plan.predicted)}): the clients report ${fmt(failures.timeout)} connect timeouts — ` +
        `SYNs are dropped on the way (firewall, NAT or conntrack on the client host); check the iptables counters and dmesg.`,
    ];
  }

  const hints: string[] = [];
  if (silent.length > 0) hints.push(`no connection reached ${joinAnd(silent)}`);
  if (f.perClient.length === 0) hints.push("no client view to classify failures (pass --clients-label)");
  else if (failures.other + failures.reset + failures.addrnotavail > 0) hints.push(`clients counted ${failureList(failures)}`);
  return [
    "unknown",
    `Plateau at ${of} connections, below the plan's ${fmt(plan.predicted)} (${plan.bindingLimit}), and no known limit matches` +
      `${hints.length > 0 ? `: ${hints.join("; ")}` : ""}.`,
  ];
}

/**
 * Server workers at their fd limit: a worker past it gets EMFILE on accept, and libuv closes what
 * the kernel had completed, so the clients see connections established and then dropped.
 * Evidence: /stats' optional per-worker fields (workers at capacity, accept errors) and drops.
 */
function serverFdWall(f: Facts): string | null {
  const { plan, total, server } = f;
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
    `Plateau at ${fmt(total)} of ${fmt(plan.target)} connections: server workers at their fd limit: ${fmt(closed)} accepted connections closed ` +
    `(${plural(atCapacity, "worker")} of ${fmt(server.workers)} at capacity${held}${acceptErrors > 0 ? `, ${fmt(acceptErrors)} accept errors` : ""}); ` +
    `add workers (server.workers${need !== undefined ? ` ≥ ${fmt(need)} with headroom for uneven accepts` : ""}) or raise their open-file limit.`
  );
}

/** A plateau at the containers' own local port range (Docker's default 32768–60999 unless widened). */
function containerPortWall(f: Facts): string | null {
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
    `Plateau at ${fmt(total)} of ${fmt(plan.target)} connections = ${who}${evidence}; ` +
    `widen clients.localPortRange to 1024-65535 (the containers' net.ipv4.ip_local_port_range sysctl) or spread over more server IPs.`
  );
}

/** A plateau at the NAT's source-port pool: per (client source IP, server IP, port) path. */
function natPoolWall(f: Facts): string | null {
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

function passSentence(f: Facts, soak: SoakSummary | null): string {
  const { plan, total } = f;
  const used = f.serverIps.filter((r) => r.measured > 0);
  const soakText = soak ? `, held for ${seconds(soak.seconds)} without a loss` : "";
  if (used.length <= 1) {
    return `All ${fmt(total)} connections established (target ${fmt(plan.target)}, plan predicted ${fmt(plan.predicted)})${soakText}.`;
  }
  const split = used.map((r) => `${r.ip}: ${fmt(r.measured)}`).join(", ");
  const pool = plan.natPool;
  const sources = Math.max(1, Object.keys(f.server?.perRemoteIp ?? {}).length || plan.clientSources.length);
  const beyond =
    pool && total > pool.size * sources ? `, more than the ${fmt(pool.size)}-port NAT pool allows toward one server IP` : "";
  const shared = f.sharedSourcePorts;
  const proof =
    shared.total > 0
      ? `: ${fmt(shared.total)} NAT'd source ports are in use toward more than one server IP${shared.example ? ` (e.g. ${shared.example})` : ""}`
      : "";
  return `All ${fmt(total)} connections established over ${used.length} server IPs (${split})${beyond}${soakText}${proof}.`;
}

function unreachableSentence(f: Facts): string {
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

function soakSentence(f: Facts, soak: SoakSummary): string {
  const lost = Math.max(soak.lost, soak.clientsDropped);
  const dropped = soak.clientsDropped > 0 ? `; clients dropped ${signed(soak.clientsDropped)}` : "";
  return (
    `Lost ${fmt(lost)} of ${fmt(soak.start)} connections during the ${seconds(soak.seconds)} soak (server ${fmt(soak.start)} → ${fmt(soak.end)}, ` +
    `lowest ${fmt(soak.min)}${dropped}); check conntrack's nf_conntrack_tcp_timeout_established, the server's memory and the clients' errors.`
  );
}

function halfOpenSentence(c: CrossCheck): string {
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

function crashedList(crashed: [string, ClientSummary][]): string {
  return joinAnd(
    crashed.map(([name, c]) => {
      const bits: string[] = [];
      if (c.exitCode !== null && c.state !== "running") bits.push(`code ${c.exitCode}`);
      if (c.oomKilled) bits.push("OOM-killed");
      if (c.restartCount > 0) bits.push(plural(c.restartCount, "restart"));
      return `${name} ${c.state === "running" ? "restarted" : c.state}${bits.length > 0 ? ` (${bits.join(", ")})` : ""}`;
    }),
  );
}

function failureList(failures: Record<FailureClass, number>): string {
  const items = FAILURE_CLASSES.filter((k) => failures[k] > 0).map((k) => `${fmt(failures[k])} ${k}`);
  return items.length > 0 ? items.join(", ") : "no failures";
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
