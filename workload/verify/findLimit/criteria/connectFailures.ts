// More of a step's connects failed than test.findLimit.maxFailureRate allows.
import { FAILURE_CLASSES } from "../../../../shared/protocol.js";
import { fmt, percent } from "../../format.js";
import type { Criterion } from "../criterion.js";

export const connectFailures: Criterion = {
  name: "connect-failures",
  judge: (m, s) => {
    const c = m.clients;
    if (c === null || c.failed === 0 || c.failed <= s.maxFailureRate * c.attempted) return null;
    const by = FAILURE_CLASSES.filter((k) => c.failedBy[k] > 0)
      .map((k) => `${k} ${fmt(c.failedBy[k])}`)
      .join(", ");
    return `${fmt(c.failed)} of the step's ${fmt(c.attempted)} connects failed (${by}), above test.findLimit.maxFailureRate ${percent(s.maxFailureRate)}.`;
  },
};
