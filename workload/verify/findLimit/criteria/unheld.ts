// At the step's end the server held less of the step's target than maxFailureRate forgives.
import { fmt } from "../../format.js";
import type { Criterion } from "../criterion.js";

export const unheld: Criterion = {
  name: "unheld",
  judge: (m, s) => {
    if (m.held === null)
      return `The server's /stats did not answer at the step's end, so the step's ${fmt(m.target)} could not be counted.`;
    if (m.held >= Math.ceil(m.target * (1 - s.maxFailureRate))) return null;
    const how = m.reached ? "reached the target, then lost some" : "never reached the target";
    return `The server held ${fmt(m.held)} of the step's ${fmt(m.target)} at its end (${how}).`;
  },
};
