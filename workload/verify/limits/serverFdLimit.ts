// Server workers at their fd limit: a worker past it gets EMFILE on accept, and libuv closes what
// the kernel had completed, so the clients see connections established and then dropped.
// Evidence: /stats' optional per-worker fields (workers at capacity, accept errors) and drops.
import { fmt, plural } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";

function detect(f: Facts): string | null {
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

export const serverFdLimit: LimitClass = { limit: "server-fd-limit", detect };
