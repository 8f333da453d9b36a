// The p99 round trip of the step's hold is above test.maxRttMs (or too many pings got no echo).
import { PING_ANSWER_DUE_SECONDS } from "../../../../shared/protocol.js";
import { fmt } from "../../format.js";
import { ms, UNANSWERED_P99 } from "../../rtt.js";
import type { Criterion } from "../criterion.js";

export const rtt: Criterion = {
  name: "rtt",
  judge: (m, s) => {
    if (s.maxRttMs === null || !m.reached) return null;
    const r = m.rtt;
    const bound = `test.maxRttMs ${ms(s.maxRttMs)}`;
    if (r === null || r.pings === 0)
      return `No round trip was measured during the step's hold, so ${bound} could not be checked.`;
    if (r.unanswered > UNANSWERED_P99 * r.pings) {
      return `${fmt(r.unanswered)} of ${fmt(r.pings)} pings got no echo within ${PING_ANSWER_DUE_SECONDS} s, so p99 is above ${bound}.`;
    }
    if (r.percentiles !== null && r.percentiles.p99 > s.maxRttMs)
      return `p99 round trip ${ms(r.percentiles.p99)} is above ${bound}.`;
    return null;
  },
};
