// The limit classes the connection test knows, in the order diagnose() tries them: one module per
// class under limits/, each behind the LimitClass interface (limits/limitClass.ts); a new class is
// one module and one entry in REACHED_CLASSES or PLATEAU_CLASSES.
import type { DiagnosedLimit } from "./summary.js";
import { beyondPlan } from "./limits/beyondPlan.js";
import { clientFdLimit } from "./limits/clientFdLimit.js";
import { clientsDown, clientsRestarted } from "./limits/clientsCrashed.js";
import { connectTimeouts } from "./limits/connectTimeouts.js";
import { conntrackFull } from "./limits/conntrackFull.js";
import { containerPortRange } from "./limits/containerPortRange.js";
import { halfOpen } from "./limits/halfOpen.js";
import type { Facts, LimitClass } from "./limits/limitClass.js";
import { natPool } from "./limits/natPool.js";
import { serverFdLimit } from "./limits/serverFdLimit.js";
import { serverFull } from "./limits/serverFull.js";
import { serverRefused } from "./limits/serverRefused.js";
import { soakLoss } from "./limits/soakLoss.js";
import { stillRamping } from "./limits/stillRamping.js";

/** In order: the first that matches fails a run that reached its target. */
export const REACHED_CLASSES: LimitClass[] = [soakLoss, halfOpen, beyondPlan];

/**
 * The limit behind a plateau, most direct evidence first: containers that are down, then what
 * the clients' failure classes and conntrack say, then the walls the plan's numbers predict;
 * containers that restarted but run again only explain a plateau nothing else explains.
 */
export const PLATEAU_CLASSES: LimitClass[] = [
  clientsDown,
  clientFdLimit,
  serverFdLimit,
  conntrackFull,
  // Before refusals: full workers refuse too, though their listeners are there.
  serverFull,
  serverRefused,
  containerPortRange,
  natPool,
  clientsRestarted,
  stillRamping,
  connectTimeouts,
];

/** The first class in `classes` that matches, with its sentence. */
export function firstMatch(classes: LimitClass[], f: Facts): { limit: DiagnosedLimit; sentence: string } | null {
  for (const c of classes) {
    const sentence = c.detect(f);
    if (sentence !== null) return { limit: c.limit, sentence };
  }
  return null;
}
