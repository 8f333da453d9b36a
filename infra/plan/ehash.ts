// The established-socket hash a network namespace gets (kernel ≥ 6.1: net.ipv4.tcp_child_ehash_entries,
// read from the creating namespace when a namespace is made). Without it every namespace shares
// the host's one table, sized at boot (262,144 buckets here): at a million, both ends' 2M sockets
// hang in chains of ~8 and each SYN, SYN-ACK and connect() port check walks one. Measured on the
// million (engine-free, same hour, 2026-12-07): whole ramp 65.2–69.4 s with private tables, 89.1 s
// without (bench/README.md). Pure.
import type { CapacityPlan } from "../../shared/plan.js";

export const EHASH_KEY = "net.ipv4.tcp_child_ehash_entries";

/** Below this many sockets a namespace keeps sharing the host's table: a private one would gain nothing. */
export const EHASH_PRIVATE_MIN = 16_384;
/** The kernel's bound for tcp_child_ehash_entries. */
export const EHASH_MAX = 16_777_216;

/** Buckets for a namespace holding this many sockets: one each, as a power of two; 0 = share the host's. */
export function ehashEntriesFor(sockets: number): number {
  if (sockets < EHASH_PRIVATE_MIN) return 0;
  return Math.min(EHASH_MAX, 2 ** Math.ceil(Math.log2(sockets)));
}

/**
 * The host-wide raise (tuning, restored on destroy) under which Docker makes each client container's
 * namespace with a table of its own, sized for the fullest container; {} when they would share.
 */
export function ehashRaiseFor(connectionsPerContainer: number): Record<string, number> {
  const entries = ehashEntriesFor(connectionsPerContainer);
  return entries > 0 ? { [EHASH_KEY]: entries } : {};
}

/** ehashRaiseFor the containers this machine's Docker runs (all of them, unless clients.hosts puts some elsewhere). */
export function clientEhashRaise(plan: CapacityPlan): Record<string, number> {
  const local = plan.hosts ? new Set(plan.hosts.filter((h) => h.docker === "local").map((h) => h.name)) : null;
  const mine = plan.containers.filter((c) => !local || (c.host !== undefined && local.has(c.host)));
  return ehashRaiseFor(Math.max(0, ...mine.map((c) => c.connections)));
}
