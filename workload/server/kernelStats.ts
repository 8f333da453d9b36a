// What the server's kernel says about the server's side, read at each /stats: MemAvailable (the
// find-limit floor) and the TCP counters of the server's network namespace (a namespace's
// /proc/net is its own; on a VM, the VM's). Cumulative since the namespace or the boot, so a
// server restart does not reset them: a reader takes differences.
import { readFile } from "node:fs/promises";
import type { KernelStats } from "../../shared/protocol.js";

/** Fields of one "Prefix: names\nPrefix: values" table of /proc/net/snmp or /proc/net/netstat. */
export function parseProcNetTable(text: string, prefix: string): Map<string, number> {
  const lines = text.split("\n").filter((l) => l.startsWith(`${prefix}: `));
  const out = new Map<string, number>();
  if (lines.length < 2) return out;
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1);
  names.forEach((n, i) => {
    const v = Number(values[i]);
    if (Number.isFinite(v)) out.set(n, v);
  });
  return out;
}

/** MemAvailable of /proc/meminfo in bytes, or null. */
export function parseMemAvailable(text: string): number | null {
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

export function kernelStatsOf(meminfo: string, snmp: string, netstat: string): KernelStats {
  const tcp = parseProcNetTable(snmp, "Tcp");
  const ext = parseProcNetTable(netstat, "TcpExt");
  const n = (m: Map<string, number>, k: string): number => m.get(k) ?? 0;
  return {
    memAvailableBytes: parseMemAvailable(meminfo),
    passiveOpens: n(tcp, "PassiveOpens"),
    listenOverflows: n(ext, "ListenOverflows"),
    listenDrops: n(ext, "ListenDrops"),
    reqQFullDrops: n(ext, "TCPReqQFullDrop"),
    syncookiesSent: n(ext, "SyncookiesSent"),
  };
}

/** The readings, or null when /proc cannot be read (not Linux). */
export async function readKernelStats(proc = "/proc"): Promise<KernelStats | null> {
  try {
    const [meminfo, snmp, netstat] = await Promise.all(
      ["meminfo", "net/snmp", "net/netstat"].map((f) => readFile(`${proc}/${f}`, "utf8")),
    );
    return kernelStatsOf(meminfo!, snmp!, netstat!);
  } catch {
    return null;
  }
}
