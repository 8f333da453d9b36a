// The server host's MemAvailable fell below test.findLimit.minMemAvailableMiB during the step.
import { fmt } from "../../format.js";
import type { Criterion } from "../criterion.js";

const MIB = 2 ** 20;

export const memory: Criterion = {
  name: "memory",
  judge: (m, s) => {
    if (s.minMemAvailableMiB === null || m.memAvailableMinBytes === null) return null;
    if (m.memAvailableMinBytes >= s.minMemAvailableMiB * MIB) return null;
    return `The server host's MemAvailable fell to ${fmt(Math.floor(m.memAvailableMinBytes / MIB))} MiB, below test.findLimit.minMemAvailableMiB ${fmt(s.minMemAvailableMiB)} MiB.`;
  },
};
