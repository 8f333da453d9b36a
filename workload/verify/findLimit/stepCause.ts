// What stopped a find-limit run's broken step, in one sentence (pure): the cause the connection
// diagnosis of that step names (its limit), said of the step rather than of a hold toward the
// plan's target, with the plan's binding limit beside the measured capacity. It replaces the
// hold's sentence, whose advice (a plateau against the plan, "nothing listens there") does not
// fit a step that was meant to find the wall.
import type { ServerStats } from "../../../shared/protocol.js";
import { briefList, fmt, plural } from "../format.js";
import { fullWorkers } from "../limits/serverFull.js";
import { crashedList } from "../limits/text.js";
import type { Diagnosis } from "../summary.js";
import type { VerifyPlan } from "../types.js";
import type { FindLimitResult } from "./result.js";

type Clause = (d: Diagnosis, server: ServerStats | null, plan: VerifyPlan) => string | null;

function workersClause(server: ServerStats | null): string | null {
  const w = fullWorkers(server);
  if (!w || !server) return null;
  return `the server's workers were full (${fmt(w.full)} of ${plural(server.workers, "worker")} at the capacity of ${fmt(w.capacity)} connections each, no longer accepting)`;
}

/** The cause per diagnosed limit, as a clause ("the NAT source-port pool … ran out"); absent: none to add. */
const CLAUSES: Partial<Record<Diagnosis["limit"], Clause>> = {
  "server-fd-limit": (_d, server) =>
    workersClause(server) ?? `the server's workers hit their open-file limit (${fmt(server?.acceptErrors ?? 0)} accept errors)`,
  "server-refused": (d, server) => workersClause(server) ?? `the server refused ${fmt(d.failures.refused)} connects (RST)`,
  "nat-pool": (_d, _s, plan) =>
    plan.natPool
      ? `the NAT source-port pool ${plan.natPool.from}–${plan.natPool.to} (${fmt(plan.natPool.size)} ports per client source IP and server IP) ran out`
      : null,
  "container-port-range": (d) =>
    `the client containers ran out of local ports (${fmt(d.failures.addrnotavail)} connects failed with EADDRNOTAVAIL)`,
  "client-fd-limit": (d) => `the clients ran out of file descriptors (${fmt(d.failures.emfile)} connects failed with EMFILE)`,
  conntrack: (d) =>
    d.conntrack ? `the NAT host's conntrack table filled (${fmt(d.conntrack.count)} of ${fmt(d.conntrack.max)} entries)` : null,
  "connect-timeouts": (d) => `${fmt(d.failures.timeout)} connects timed out (SYNs dropped on the way)`,
  "clients-crashed": (d) => {
    const crashed = Object.entries(d.perClient ?? {}).filter(([, c]) => c.crashed);
    return crashed.length > 0 ? `client containers crashed (${crashedList(crashed)})` : null;
  },
  "server-unreachable": () => "the server's /stats stopped answering",
  "client-host-lost": (d) => {
    const lost = (d.hosts ?? []).filter((h) => h.lost !== null).map((h) => h.name);
    return lost.length > 0 ? `client host${lost.length === 1 ? "" : "s"} ${briefList(lost)} could no longer be read` : null;
  },
  "half-open": () => "the clients counted connections the server no longer held (half-open)",
};

/**
 * "At step 3 (1,500) the server's workers were full (…) and the server held 1,200; measured capacity 1,000
 * beside the plan's binding limit target (1,500)." Null unless a step broke.
 */
export function stepCauseSentence(d: Diagnosis, r: FindLimitResult, server: ServerStats | null, plan: VerifyPlan): string | null {
  const last = r.curve.at(-1);
  if (r.breaks.length === 0 || !last) return null;
  const beside = `measured capacity ${fmt(r.capacity)} beside the plan's binding limit ${r.plan.bindingLimit} (${fmt(r.plan.predicted)})`;
  const clause = CLAUSES[d.limit]?.(d, server, plan) ?? null;
  if (clause === null) return `${beside[0]!.toUpperCase()}${beside.slice(1)}.`;
  const held = last.held === null ? "" : ` and the server held ${fmt(last.held)}`;
  return `At step ${last.step} (${fmt(last.target)}) ${clause}${held}; ${beside}.`;
}
