// find-limit's steps (test.mode: find-limit), shared by infra (each client container's share of a
// step, its C1M_STEP_CONNECTIONS) and the connection test (each step's total). Pure.

/** The signal that raises a stepping client's target by one step (SIGUSR1 is node's inspector). */
export const STEP_SIGNAL = "SIGUSR2";

/** Criteria find-limit judges each step on, in the order a step's breaks are reported. */
export const FIND_LIMIT_CRITERIA = ["connect-failures", "unheld", "rtt", "memory", "worker-cpu"] as const;
export type FindLimitCriterion = (typeof FIND_LIMIT_CRITERIA)[number];

/** Defaults of test.findLimit (and of verify's flags). */
export const FIND_LIMIT_DEFAULTS = {
  stepSeconds: 30,
  /** Failed connects of a step over its attempts; above it, the step breaks. */
  maxFailureRate: 0.001,
  /** The server host's MemAvailable floor. */
  minMemAvailableMiB: 256,
  /** The busiest server worker's CPU over the step's hold, in cores (a worker is one thread of JS). */
  maxWorkerCpu: 0.9,
} as const;

/**
 * Each container's share of one step, in proportion to its planned connections, summing to
 * `step` exactly (largest remainders first, ties to the lower index). Every share is at least 1
 * when step ≥ the number of containers, which the config requires.
 */
export function stepShares(connections: number[], step: number): number[] {
  const total = connections.reduce((a, b) => a + b, 0);
  if (total === 0) return connections.map(() => 0);
  const exact = connections.map((c) => (c * step) / total);
  const shares = exact.map(Math.floor);
  let left = step - shares.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    shares[i]!++;
    left--;
  }
  return shares;
}

/** A container's target at step n (1-based): n shares, never above its planned connections. */
export function containerTarget(share: number, connections: number, n: number): number {
  return Math.min(connections, share * n);
}

/** The lab's total at each step, until every container holds its planned connections. */
export function stepTotals(connections: number[], step: number): number[] {
  const shares = stepShares(connections, step);
  if (shares.some((s, i) => s === 0 && connections[i]! > 0)) return [];
  const steps = Math.max(0, ...connections.map((c, i) => (c === 0 ? 0 : Math.ceil(c / shares[i]!))));
  return Array.from({ length: steps }, (_, k) =>
    connections.reduce((sum, c, i) => sum + containerTarget(shares[i]!, c, k + 1), 0),
  );
}
