// Connections lost during the soak (the target had been reached).
import { fmt, seconds, signed } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";

function detect(f: Facts): string | null {
  const { soak } = f;
  if (!soak || (soak.lost === 0 && soak.clientsDropped === 0)) return null;
  const lost = Math.max(soak.lost, soak.clientsDropped);
  const dropped = soak.clientsDropped > 0 ? `; clients dropped ${signed(soak.clientsDropped)}` : "";
  return (
    `Lost ${fmt(lost)} of ${fmt(soak.start)} connections during the ${seconds(soak.seconds)} soak (server ${fmt(soak.start)} → ${fmt(soak.end)}, ` +
    `lowest ${fmt(soak.min)}${dropped}); check conntrack's nf_conntrack_tcp_timeout_established, the server's memory and the clients' errors.`
  );
}

export const soakLoss: LimitClass = { limit: "soak-loss", detect };
