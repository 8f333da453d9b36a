// Server and clients disagree beyond the cross-check tolerance: half-open connections.
import { fmt, signed } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";

function detect(f: Facts): string | null {
  const c = f.crossCheck;
  if (!c || c.ok) return null;
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

export const halfOpen: LimitClass = { limit: "half-open", detect };
