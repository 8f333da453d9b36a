// What a find-limit run is told (verify's --find-limit-* flags, from test.findLimit): types only.

export interface FindLimitSettings {
  /** Connections each step adds (the clients' shares sum to it). */
  stepConnections: number;
  /** How long each step holds once its target is reached. */
  stepSeconds: number;
  /** A step breaks when more of its connects fail than this fraction (or the server holds less than 1 − this of it). */
  maxFailureRate: number;
  /** A step breaks when the server host's MemAvailable falls below this; null = not judged. */
  minMemAvailableMiB: number | null;
  /** A step breaks when the busiest server worker uses more cores than this over the hold; null = not judged. */
  maxWorkerCpu: number | null;
  /** A step breaks when the p99 round trip of its hold is above this (test.maxRttMs); null = not judged. */
  maxRttMs: number | null;
}
