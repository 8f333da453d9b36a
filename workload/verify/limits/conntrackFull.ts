// The NAT host's conntrack table full (or nearly, and dropping).
import { fmt, signed } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";
import { CONNTRACK_FULL } from "./thresholds.js";

function detect(f: Facts): string | null {
  const c = f.conntrack;
  if (!c || !(c.fill >= CONNTRACK_FULL || (c.fill >= 0.9 && c.delta.drop + c.delta.earlyDrop > 0))) return null;
  const d = c.delta;
  return (
    `Plateau at ${of(f)} connections: the NAT host's conntrack table is full (nf_conntrack_count ${fmt(c.count)} of ` +
    `nf_conntrack_max ${fmt(c.max)}; drop ${signed(d.drop)}, early_drop ${signed(d.earlyDrop)}, insert_failed ${signed(d.insertFailed)}); ` +
    `raise net.netfilter.nf_conntrack_max well above ${fmt(f.plan.target)} (tuning.raiseHostLimits or tuning.sysctls).`
  );
}

export const conntrackFull: LimitClass = { limit: "conntrack", detect };
