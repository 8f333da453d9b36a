// Test hook: C1M_SERVER_TEST_WORKER_CAPACITY=N lowers the connections one worker holds before it
// stops accepting (its fd limit's capacity otherwise), so a small lab meets a server limit it chose:
// with every worker full, connects are refused, as at a real worker's fd limit.

export const WORKER_CAPACITY_ENV = "C1M_SERVER_TEST_WORKER_CAPACITY";

/** The fd limit's capacity, or the hook's lower one (a positive integer; anything else is ignored). */
export function workerCapacity(fdCapacity: number, env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[WORKER_CAPACITY_ENV];
  if (raw === undefined || !/^[1-9]\d{0,9}$/.test(raw)) return fdCapacity;
  return Math.min(fdCapacity, Number(raw));
}
