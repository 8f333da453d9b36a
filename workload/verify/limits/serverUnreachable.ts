// The server's view is gone: nothing else can be trusted.
import { fmt, plural, seconds } from "../format.js";
import { last } from "../series.js";
import type { Facts, LimitClass } from "./limitClass.js";

function detect(f: Facts): string | null {
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

export const serverUnreachable: LimitClass = { limit: "server-unreachable", detect };
