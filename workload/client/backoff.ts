// When a failed connect is tried again: capped exponential backoff, with AWS's "full jitter"
// (sleep = random_between(0, min(cap, base * 2^n))) so a crowd of clients that failed together
// does not come back together; `none` keeps the bare ceiling, which shows that herd.
import type { ReconnectPolicy } from "../../shared/protocol.js";

/** Largest wait before retry number `attempt` (1 = first retry): min(cap, base * 2^(attempt-1)). */
export function backoffCeilingMs(attempt: number, policy: ReconnectPolicy): number {
  // Exponent bounded so 2^n stays finite whatever the attempt count.
  const n = Math.min(Math.max(attempt - 1, 0), 40);
  return Math.min(policy.capMs, policy.baseMs * 2 ** n);
}

/** Wait before retry number `attempt`; `random` returns [0, 1) (injectable for tests). */
export function backoffMs(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  const ceiling = backoffCeilingMs(attempt, policy);
  return policy.jitter === "full" ? ceiling * random() : ceiling;
}
