// The connection test's judgement (pure): joins the server's, the clients' and conntrack's view
// of a run, compares the measurement with the capacity plan, and explains the outcome in one
// sentence that names the limit, its numbers and the fix. The limit classes themselves (a
// detector and a sentence each) are in limits.ts.
import { FAILURE_CLASSES, type FailureClass, type ServerStats } from "../../shared/protocol.js";
import { abbreviateAddresses, fmt, ipOfHostPort, plural, seconds, shortenIps } from "./format.js";
import {
  PLATEAU_CLASSES,
  PLATEAU_LOWER,
  REACHED_CLASSES,
  crashedList,
  crossCheckTolerance,
  failureList,
  firstMatch,
  halfOpen,
  last,
  perIpText,
  plateauUpper,
  serverUnreachable,
  unknownLimit,
  type Facts,
} from "./limits.js";
import { perServerIpOf } from "./perIp.js";
import type { RttSummary } from "./rtt.js";
import type { HeadroomSummary } from "./headroom.js";
import type {
  ClientObservation,
  ConntrackReading,
  Expect,
  HostSummary,
  Observation,
  Run,
  StopReason,
  VerifyPlan,
} from "./types.js";

export { CONNTRACK_FULL, PLATEAU_LOWER, crossCheckTolerance, plateauUpper, recentRate } from "./limits.js";
export { perServerIpOf } from "./perIp.js";

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
  | "rtt"
  | "client-host-lost"
  | "unknown";

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
  /** Round trips of the hold (holdChecks.ts); absent before those checks ran. */
  rtt?: RttSummary | null;
  /** The clients' and the server's CPU (holdChecks.ts, headroom.ts). */
  headroom?: HeadroomSummary | null;
  warnings: string[];
  /** Per client host (only with several hosts; see hostDiagnosis.ts). */
  hosts?: HostSummary[];
}

const zeroFailures = (): Record<FailureClass, number> =>
  Object.fromEntries(FAILURE_CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>;

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
      const n = ex.localAddresses.length;
      // One example stays short at scale: a port shared by 34 server IPs names the first three.
      const where =
        n <= 3
          ? abbreviateAddresses(ex.localAddresses)
          : `${shortenIps(ex.localAddresses.map(ipOfHostPort)).slice(0, 3).join(", ")} and ${fmt(n - 3)} more server IPs`;
      example = `source port ${ex.port} of ${remote} reaches ${where} at once`;
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

  const facts: Facts = {
    plan,
    run,
    ctx,
    total,
    server,
    lastServerObs,
    observations,
    perClient: clientList,
    down,
    restarted,
    failures,
    conntrack,
    serverIps,
    sharedSourcePorts,
    crossCheck,
    soak,
  };

  // 1. The server's view is gone: nothing else can be trusted.
  const unreachable = serverUnreachable(facts);
  if (unreachable !== null) return done("fail", "server-unreachable", unreachable);

  if (reached) {
    const crashed = [...down, ...restarted];
    if (crashed.length > 0) warnings.push(`${crashedList(crashed)} during the test, yet the target was reached.`);
    if (failures.emfile + failures.refused + failures.addrnotavail + failures.timeout > 0) {
      warnings.push(`clients counted ${failureList(failures)} on the way (retried).`);
    }
    const wrong = firstMatch(REACHED_CLASSES, facts);
    if (wrong) return done("fail", wrong.limit, wrong.sentence);
    return done("pass", "none", passSentence(facts));
  }

  // 2. Not reached: which limit?
  const { limit, sentence } = firstMatch(PLATEAU_CLASSES, facts) ?? { limit: "unknown", sentence: unknownLimit(facts) };
  if (limit !== "clients-crashed" && restarted.length > 0) warnings.push(`${crashedList(restarted)} during the test.`);
  if (ctx.expect === "plateau" && planPlateau && limit === plan.bindingLimit && inPlateauBand) {
    const split = halfOpen(facts);
    if (split !== null) return done("fail", "half-open", split);
    return done("plateau-as-expected", limit, sentence);
  }
  if (ctx.expect === "plateau" && planPlateau) {
    const expected = `the plan expected a ${plan.bindingLimit} plateau at ${fmt(predicted)}`;
    return done("fail", limit, sentence.replace(/\.$/, `; ${expected}.`));
  }
  return done("fail", limit, sentence);
}

function passSentence(f: Facts): string {
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
