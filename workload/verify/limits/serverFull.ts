// Server workers full: a worker at its capacity (capacityPerWorker, from its fd limit or the test
// hook) stops accepting, so with every worker full the clients are refused (or reset when queued
// then). The listeners are there; they only closed for new connections.
import type { ServerStats } from "../../../shared/protocol.js";
import { fmt, plural } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";

/** The workers at capacity and the capacity, or null when the server does not report them or none is full. */
export function fullWorkers(server: ServerStats | null): { full: number; capacity: number } | null {
  const capacity = server?.capacityPerWorker;
  if (!server || capacity === undefined) return null;
  const full = server.workersAtCapacity ?? (server.perWorker ?? []).filter((w) => w.total >= capacity).length;
  return full > 0 ? { full, capacity } : null;
}

function detect(f: Facts): string | null {
  const workers = fullWorkers(f.server);
  const { refused, reset } = f.failures;
  if (workers === null || refused + reset === 0) return null;
  const need = Math.ceil(f.plan.target / workers.capacity);
  const resets = reset > 0 ? ` and ${fmt(reset)} resets` : "";
  return (
    `Plateau at ${of(f)} connections: the server's workers are full (${fmt(workers.full)} of ${plural(f.server!.workers, "worker")} ` +
    `at the capacity of ${fmt(workers.capacity)} connections each, no longer accepting), so the clients got ${fmt(refused)} refusals (RST)${resets}; ` +
    `add workers (server.workers ≥ ${fmt(need)} with headroom for uneven accepts) or raise their open-file limit.`
  );
}

export const serverFull: LimitClass = { limit: "server-fd-limit", detect };
