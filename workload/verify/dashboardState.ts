// What the live dashboard shows (pure): the ramp so far per server IP and in total, the plan's
// prediction and target, clients, failures by class, conntrack, and at the end the verdict. One
// JSON document, rebuilt from each observation; the page renders whatever it last received.
import { FAILURE_CLASSES, type FailureClass } from "../../shared/protocol.js";
import { ipSpread, perServerIpOf, type IpSpread } from "./perIp.js";
import { holdView, type HoldView } from "./holdView.js";
import type { TestOutput } from "./report.js";
import type { HostView, Observation, VerifyPlan } from "./types.js";
import type { Phase } from "./wait.js";

export interface DashboardState {
  stack: string;
  target: number;
  predicted: number;
  bindingLimit: string;
  /** Seconds since the test started, one per poll that reached the server. */
  t: number[];
  total: number[];
  /** Per server IP, aligned with `t`. */
  perIp: Record<string, number[]>;
  phase: Phase | "done";
  /** The latest per-IP counts summarized (the laggards are marked on the page). */
  spread: IpSpread | null;
  latest: {
    t: number;
    total: number | null;
    rate: number | null;
    serverError: string | null;
    clients: { running: number; count: number; established: number } | null;
    failures: Record<FailureClass, number> | null;
    conntrack: { count: number; max: number; insertFailed: number; drop: number } | null;
    /** Per client host (only with several hosts). */
    hosts?: HostView[];
  } | null;
  /** Round trips (and generator load) of the hold so far (holdView.ts). */
  hold: HoldView | null;
  verdict: Pick<TestOutput, "verdict" | "limit" | "diagnosis" | "total" | "perServerIp" | "reportDir" | "perHost"> | null;
  /** After the verdict: the page is served this many seconds more. */
  lingerSeconds: number;
}

export function initialState(
  stack: string,
  plan: Pick<VerifyPlan, "target" | "predicted" | "bindingLimit" | "serverAddresses">,
  lingerSeconds: number,
): DashboardState {
  return {
    stack,
    target: plan.target,
    predicted: plan.predicted,
    bindingLimit: plan.bindingLimit,
    t: [],
    total: [],
    perIp: Object.fromEntries(plan.serverAddresses.map((ip) => [ip, []])),
    phase: "ramp",
    spread: null,
    latest: null,
    hold: null,
    verdict: null,
    lingerSeconds,
  };
}

/**
 * Adds one poll (mutates and returns `state`). `first` is the first observation of the run, the
 * base for conntrack's cumulative counters.
 */
export function withObservation(state: DashboardState, o: Observation, first: Observation, phase: Phase): DashboardState {
  state.phase = phase;
  let rate: number | null = null;
  if (o.server) {
    const prevT = state.t.at(-1);
    const prevTotal = state.total.at(-1);
    if (prevT !== undefined && prevTotal !== undefined && o.t > prevT) rate = (o.server.total - prevTotal) / (o.t - prevT);
    const perIp = perServerIpOf(o.server, Object.keys(state.perIp));
    // An address the plan did not name gets zeros for the polls before it appeared.
    for (const ip of Object.keys(perIp)) state.perIp[ip] ??= state.t.map(() => 0);
    for (const [ip, series] of Object.entries(state.perIp)) series.push(perIp[ip] ?? 0);
    state.t.push(o.t);
    state.total.push(o.server.total);
    state.spread = ipSpread(perIp);
  }
  let failures: Record<FailureClass, number> | null = null;
  let clients: NonNullable<DashboardState["latest"]>["clients"] = null;
  if (o.clients) {
    failures = Object.fromEntries(FAILURE_CLASSES.map((k) => [k, 0])) as Record<FailureClass, number>;
    let established = 0;
    for (const c of o.clients) {
      established += c.status?.established ?? 0;
      for (const k of FAILURE_CLASSES) failures[k] += c.status?.failed[k] ?? 0;
    }
    clients = { running: o.clients.filter((c) => c.state === "running").length, count: o.clients.length, established };
  }
  state.hold = holdView(o, state.hold);
  const ct = o.conntrack;
  const base = first.conntrack ?? ct;
  state.latest = {
    t: o.t,
    total: o.server?.total ?? null,
    rate: rate === null ? null : Math.round(rate),
    serverError: o.server ? null : o.serverError,
    clients,
    failures,
    conntrack:
      ct && base
        ? {
            count: ct.count,
            max: ct.max,
            insertFailed: Math.max(0, ct.insertFailed - base.insertFailed),
            drop: Math.max(0, ct.drop - base.drop),
          }
        : null,
    ...(o.hosts ? { hosts: o.hosts } : {}),
  };
  return state;
}

/** The verdict (mutates and returns `state`). */
export function withVerdict(state: DashboardState, output: TestOutput): DashboardState {
  state.phase = "done";
  state.spread = ipSpread(output.perServerIp);
  state.verdict = {
    verdict: output.verdict,
    limit: output.limit,
    diagnosis: output.diagnosis,
    total: output.total,
    perServerIp: output.perServerIp,
    reportDir: output.reportDir,
    ...(output.perHost ? { perHost: output.perHost } : {}),
  };
  return state;
}
