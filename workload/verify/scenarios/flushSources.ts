// --flush-sources: the client subnets whose conntrack entries the flush deletes (pure). Only
// IPv4 prefixes of /8 or longer: the host's table is the user's, and a short prefix (0.0.0.0/0
// above all) would delete far more than the lab's own entries.
import { UsageError } from "../../cliArgs.js";

const CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(\d{1,2})$/;

/** Shortest prefix accepted. */
export const FLUSH_MIN_PREFIX = 8;

/** "172.30.201.0/24,172.30.202.0/24" → the list; a UsageError naming the flag and the bad entry. */
export function parseFlushSources(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === "") {
    throw new UsageError(
      "--flush-sources: required with --scenario conntrack-flush (the lab's client subnets, e.g. 172.30.201.0/24)",
    );
  }
  const list = raw.split(",");
  if (list.length > 64) throw new UsageError(`--flush-sources: at most 64 subnets, got ${list.length}`);
  for (const s of list) {
    const m = CIDR.exec(s);
    const prefix = Number(m?.[4]);
    if (!m || prefix > 32) {
      throw new UsageError(`--flush-sources: expected IPv4 subnets like 172.30.201.0/24, comma-separated; got "${s}"`);
    }
    if (prefix < FLUSH_MIN_PREFIX) {
      throw new UsageError(
        `--flush-sources: ${s} is wider than /${FLUSH_MIN_PREFIX}: the flush deletes only the lab's client subnets, never most of the table`,
      );
    }
  }
  return list;
}
