// One run's observations summarized piece by piece (pure): each client, the clients together,
// conntrack, the shared source ports, the server IPs against the plan, the cross-check and the
// soak. What a piece cannot tell (no client view, conntrack not read...) becomes a warning.
import { FAILURE_CLASSES, type FailureClass, type ServerStats } from "../../shared/protocol.js";
import { abbreviateAddresses, fmt, ipOfHostPort, plural, shortenIps } from "./format.js";
import { crossCheckTolerance } from "./limits/thresholds.js";
import { last } from "./series.js";
import type {
  ClientSummary,
  ConntrackSummary,
  CrossCheck,
  DiagnoseContext,
  ServerIpRow,
  SharedPortsSummary,
  SoakSummary,
} from "./summary.js";
import type { ClientObservation, ConntrackReading, Observation, Run, VerifyPlan } from "./types.js";

export const zeroFailures = (): Record<FailureClass, number> =>
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

/** The clients together: per container (null = no client view), and their sums. */
export interface ClientsView {
  perClient: Record<string, ClientSummary> | null;
  failures: Record<FailureClass, number>;
  established: number;
  /** Running containers that printed no status line yet. */
  unreported: number;
  /** The sum of the clients' own targets. */
  targets: number;
}

/** The last client view (`clientsError` when there was none), sorted by name; warns on what is missing. */
export function summarizeClients(
  clients: ClientObservation[] | null,
  clientsError: string | null,
  ctx: DiagnoseContext,
  warnings: string[],
): ClientsView {
  const view: ClientsView = { perClient: null, failures: zeroFailures(), established: 0, unreported: 0, targets: 0 };
  if (clients === null) {
    warnings.push(
      clientsError
        ? `client view unavailable (${clientsError}): judged on the server view alone.`
        : "client view not observed (no --clients-label): judged on the server view alone.",
    );
    return view;
  }
  const perClient: Record<string, ClientSummary> = {};
  for (const c of [...clients].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }))) {
    const s = summarizeClient(c);
    perClient[c.name] = s;
    for (const k of FAILURE_CLASSES) view.failures[k] += s.failed[k];
    view.established += s.established;
    view.targets += s.target ?? 0;
    if (!s.reported && s.state === "running") view.unreported++;
  }
  if (clients.length === 0) {
    warnings.push(
      `no client containers found${ctx.clientsLabel ? ` with label ${ctx.clientsLabel}` : ""}: judged on the server view alone (no per-client table, no cross-check).`,
    );
  }
  return { ...view, perClient };
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

/** summarizeConntrack, with a warning when it was never read. */
export function conntrackOf(observations: Observation[], warnings: string[]): ConntrackSummary | null {
  const conntrack = summarizeConntrack(observations);
  if (conntrack === null) {
    const err = last(observations, (o) => o.conntrackError !== null)?.conntrackError;
    if (err) warnings.push(`conntrack not read: ${err}.`);
  }
  return conntrack;
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

/** Each server IP's measured count beside the plan's paths to it. */
export function serverIpRows(perServerIp: Record<string, number>, plan: VerifyPlan): ServerIpRow[] {
  return Object.entries(perServerIp).map(([ip, measured]) => {
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
}

/** Server vs clients, when both were seen and every running client reported (else a warning). */
export function crossCheckOf(server: ServerStats | null, view: ClientsView, warnings: string[]): CrossCheck | null {
  const haveClients = view.perClient !== null && Object.keys(view.perClient).length > 0;
  if (!server || !haveClients) return null;
  if (view.unreported > 0) {
    warnings.push(`cross-check skipped: ${plural(view.unreported, "running container")} printed no status line yet.`);
    return null;
  }
  const difference = server.total - view.established;
  const tolerance = crossCheckTolerance(Math.max(server.total, view.established));
  return { server: server.total, clients: view.established, difference, tolerance, ok: Math.abs(difference) <= tolerance };
}

/** The soak: the server's count from its start to the end, and what the clients dropped meanwhile. */
export function summarizeSoak(run: Run): SoakSummary | null {
  if (run.soakStartIndex === null) return null;
  const soakObs = run.observations.slice(run.soakStartIndex);
  const during = soakObs.filter((o) => o.server !== null);
  const first = during[0];
  const end = during.at(-1);
  if (!first || !end) return null;
  const droppedAt = (o: Observation) => (o.clients ?? []).reduce((s, c) => s + (c.status?.dropped ?? 0), 0);
  const soakClients = soakObs.filter((o) => o.clients !== null);
  const clientsDropped = soakClients.length > 0 ? Math.max(0, droppedAt(soakClients.at(-1)!) - droppedAt(soakClients[0]!)) : 0;
  const min = Math.min(...during.map((o) => o.server!.total));
  return {
    seconds: end.t - first.t,
    start: first.server!.total,
    end: end.server!.total,
    min,
    lost: Math.max(0, first.server!.total - min),
    clientsDropped,
  };
}

/** Seconds until the target was reached (else until the peak), null when the server was never seen. */
export function rampSecondsOf(observations: Observation[], target: number): number | null {
  const totals = observations.filter((o) => o.server !== null).map((o) => ({ t: o.t, n: o.server!.total }));
  const maxTotal = Math.max(0, ...totals.map((x) => x.n));
  const reachedAt = totals.find((x) => x.n >= target);
  const peakAt = totals.find((x) => x.n >= maxTotal && maxTotal > 0);
  return reachedAt?.t ?? peakAt?.t ?? null;
}
