// The clients' own open-file limit: EMFILE on connect.
import { briefList, fmt, plural } from "../format.js";
import type { ClientSummary } from "../summary.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";

/** "c1m-client-0: 9,900 and c1m-client-1: 9,800 established", or over many "9,800–9,900 established each". */
function heldBy(clients: [string, ClientSummary][]): string {
  if (clients.length <= 3) return `${briefList(clients.map(([n, c]) => `${n}: ${fmt(c.established)}`))} established`;
  const counts = clients.map(([, c]) => c.established);
  const [lo, hi] = [Math.min(...counts), Math.max(...counts)];
  return `${lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`} established each`;
}

function detect(f: Facts): string | null {
  if (f.failures.emfile === 0) return null;
  const hit = f.perClient.filter(([, c]) => c.failed.emfile > 0);
  return (
    `Plateau at ${of(f)} connections: the clients hit their open-file (fd) limit — ${fmt(f.failures.emfile)} connects failed with EMFILE ` +
    `in ${plural(hit.length, "container")} (${heldBy(hit)}); raise the containers' nofile ulimit ` +
    `(at most the Docker daemon's LimitNOFILE) or run more containers with fewer connections each.`
  );
}

export const clientFdLimit: LimitClass = { limit: "client-fd-limit", detect };
