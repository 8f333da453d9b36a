// Splitting a count into near-equal shares: the plan's connections over a container's targets,
// a client's connections, rate and window over its processes.

/** Spreads n over k slots as evenly as possible, earlier slots taking the remainder. */
export function spread(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}
