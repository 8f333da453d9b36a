// A run's observations gathered for the judgement (pure): the summary the diagnosis carries and
// the facts the limit classes read, with the warnings found on the way (in the order found).
import { fmt, plural } from "./format.js";
import type { Facts } from "./limits/limitClass.js";
import { perServerIpOf } from "./perIp.js";
import { last } from "./series.js";
import {
  conntrackOf,
  crossCheckOf,
  rampSecondsOf,
  serverIpRows,
  summarizeClients,
  summarizeSharedPorts,
  summarizeSoak,
  type ClientsView,
} from "./summarize.js";
import type { DiagnoseContext, Diagnosis } from "./summary.js";
import type { Observation, Run, VerifyPlan } from "./types.js";

/** The diagnosis without its judgement (verdict, limit, sentence) and the later checks. */
export type RunSummary = Omit<Diagnosis, "verdict" | "limit" | "diagnosis" | "rtt" | "headroom" | "hosts">;

/** Warnings about the server's view: polls it missed, the clients' targets against the plan's. */
function serverViewWarnings(plan: VerifyPlan, observations: Observation[], view: ClientsView, warnings: string[]): void {
  const unreachablePolls = observations.filter((o) => o.server === null).length;
  const server = last(observations, (o) => o.server !== null)?.server ?? null;
  if (server && unreachablePolls > 0)
    warnings.push(`/stats did not answer ${plural(unreachablePolls, "poll")} of ${observations.length}.`);
  const haveClients = view.perClient !== null && Object.keys(view.perClient).length > 0;
  if (haveClients && view.targets > 0 && view.targets !== plan.target) {
    warnings.push(`the clients' targets add up to ${fmt(view.targets)}, the plan's target is ${fmt(plan.target)}.`);
  }
}

/** Everything measured about the run, as the diagnosis reports it. */
export function summarizeRun(plan: VerifyPlan, run: Run, ctx: DiagnoseContext): RunSummary {
  const { observations } = run;
  const server = last(observations, (o) => o.server !== null)?.server ?? null;
  const clients = last(observations, (o) => o.clients !== null)?.clients ?? null;
  const warnings: string[] = [...plan.warnings];
  const view = summarizeClients(clients, observations.at(-1)?.clientsError ?? null, ctx, warnings);
  const haveClients = view.perClient !== null && Object.keys(view.perClient).length > 0;
  const perServerIp = perServerIpOf(server, plan.serverAddresses);
  const serverIps = serverIpRows(perServerIp, plan);
  const conntrack = conntrackOf(observations, warnings);
  serverViewWarnings(plan, observations, view, warnings);
  return {
    total: server ? server.total : haveClients ? view.established : 0,
    totalSource: server ? "server" : haveClients ? "clients" : "none",
    target: plan.target,
    predicted: plan.predicted,
    ceiling: plan.ceiling,
    bindingLimit: plan.bindingLimit,
    expect: ctx.expect,
    stopReason: run.stopReason,
    durationSeconds: observations.at(-1)?.t ?? 0,
    rampSeconds: rampSecondsOf(observations, plan.target),
    perServerIp,
    serverIps,
    perClient: view.perClient,
    failures: view.failures,
    conntrack,
    sharedSourcePorts: summarizeSharedPorts(server),
    crossCheck: crossCheckOf(server, view, warnings),
    soak: summarizeSoak(run),
    warnings,
  };
}

/** What the limit classes read, from the summary and the run. */
export function factsOf(plan: VerifyPlan, run: Run, ctx: DiagnoseContext, s: RunSummary): Facts {
  const lastServerObs = last(run.observations, (o) => o.server !== null);
  const clientList = s.perClient ? Object.entries(s.perClient) : [];
  return {
    plan,
    run,
    ctx,
    total: s.total,
    server: lastServerObs?.server ?? null,
    lastServerObs,
    observations: run.observations,
    perClient: clientList,
    // Down at the end (exited, restarting, dead...) vs restarted but running again.
    down: clientList.filter(([, c]) => c.state !== "running"),
    restarted: clientList.filter(([, c]) => c.state === "running" && (c.restartCount > 0 || c.oomKilled)),
    failures: s.failures,
    conntrack: s.conntrack,
    serverIps: s.serverIps,
    sharedSourcePorts: s.sharedSourcePorts,
    crossCheck: s.crossCheck,
    soak: s.soak,
  };
}
