// Hand-made client observations for the connection test's pure modules (verify/).
import type { ClientObservation } from "../../workload/verify/types.js";

/** A running client container that printed no status line yet; `extra` adds or replaces fields. */
export function runningClient(name: string, extra: Partial<ClientObservation> = {}): ClientObservation {
  return {
    name,
    id: name,
    state: "running",
    exitCode: null,
    restartCount: 0,
    oomKilled: false,
    lastError: null,
    status: null,
    ...extra,
  };
}
