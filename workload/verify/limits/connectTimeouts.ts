// SYNs lost on the way: the clients time out.
import { fmt } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";

function detect(f: Facts): string | null {
  if (f.failures.timeout === 0) return null;
  return (
    `Plateau at ${of(f)} connections (plan predicted ${fmt(f.plan.predicted)}): the clients report ${fmt(f.failures.timeout)} connect timeouts — ` +
    `SYNs are dropped on the way (firewall, NAT or conntrack on the client host); check the iptables counters and dmesg.`
  );
}

export const connectTimeouts: LimitClass = { limit: "connect-timeouts", detect };
