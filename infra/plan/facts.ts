// The client host's facts for the capacity plan: the script that reads them (fd limits, nr_open,
// file-max, conntrack, MemAvailable, Docker's own nofile) and the parser of its one JSON line.
// Pure; the edge runs the script through the Command provider, the CLI and tests with bash.
import { z } from "zod";
import type { HostFacts } from "./capacity.js";
import { script } from "../shell.js";

const factsSchema = z.object({
  fdHardLimit: z.number().int().positive(),
  dockerNofile: z.number().int().positive().nullable(),
  nrOpen: z.number().positive(),
  fileMax: z.number().positive(),
  conntrackMax: z.number().int().positive(),
  conntrackBuckets: z.number().int().positive(),
  memAvailableBytes: z.number().positive(),
});

export function parseHostFacts(stdout: string): HostFacts {
  return factsSchema.parse(JSON.parse(stdout.trim()));
}

/** Prints the client host's facts for the capacity plan as one JSON line. */
export function hostFactsScript(): string {
  return script("host facts", [
    `read_or() { cat "$1" 2>/dev/null || echo "$2"; }`,
    `fd=$(ulimit -Hn); [ "$fd" = unlimited ] && fd=1048576`,
    `dpid=$(pidof dockerd 2>/dev/null | cut -d' ' -f1 || true)`,
    `dn=null; if [ -n "$dpid" ] && [ -r "/proc/$dpid/limits" ]; then dn=$(awk '/^Max open files/ {print $5}' "/proc/$dpid/limits"); fi`,
    `[ "$dn" = unlimited ] && dn=1048576`,
    `mem=$(awk '/^MemAvailable:/ {print $2 * 1024}' /proc/meminfo)`,
    `printf '{"fdHardLimit":%s,"dockerNofile":%s,"nrOpen":%s,"fileMax":%s,"conntrackMax":%s,"conntrackBuckets":%s,"memAvailableBytes":%s}\\n' \\`,
    `  "$fd" "$dn" "$(read_or /proc/sys/fs/nr_open 1048576)" "$(read_or /proc/sys/fs/file-max 1048576)" \\`,
    `  "$(read_or /proc/sys/net/netfilter/nf_conntrack_max 262144)" "$(read_or /proc/sys/net/netfilter/nf_conntrack_buckets 65536)" "$mem"`,
  ]);
}
