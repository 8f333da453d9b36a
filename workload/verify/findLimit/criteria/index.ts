// Every criterion, in the order a step's breaks are reported (FIND_LIMIT_CRITERIA): the first is
// the one that stopped the run.
import type { Criterion } from "../criterion.js";
import { connectFailures } from "./connectFailures.js";
import { memory } from "./memory.js";
import { rtt } from "./rtt.js";
import { unheld } from "./unheld.js";
import { workerCpu } from "./workerCpu.js";

export const CRITERIA: readonly Criterion[] = [connectFailures, unheld, rtt, memory, workerCpu];
