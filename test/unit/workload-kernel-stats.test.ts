import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelStatsOf, parseMemAvailable, parseProcNetTable } from "../../workload/server/kernelStats.js";

// Cut from a real /proc (Debian 12, kernel 6.x), fields in the kernel's order.
const SNMP = [
  "Ip: Forwarding DefaultTTL InReceives",
  "Ip: 1 64 1234",
  "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab",
  "Tcp: 1 200 120000 -1 28 1000123 0 0 1",
  "Udp: InDatagrams NoPorts",
  "Udp: 5 6",
].join("\n");
const NETSTAT = [
  "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPReqQFullDrop",
  "TcpExt: 7 0 41 57 3",
  "IpExt: InNoRoutes InTruncatedPkts",
  "IpExt: 0 0",
].join("\n");
const MEMINFO = "MemTotal:       24590100 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";

test("kernel stats: PassiveOpens from Tcp, the listen drops from TcpExt, MemAvailable in bytes", () => {
  assert.deepEqual(kernelStatsOf(MEMINFO, SNMP, NETSTAT), {
    memAvailableBytes: 20_480_000_000,
    passiveOpens: 1_000_123,
    listenOverflows: 41,
    listenDrops: 57,
    reqQFullDrops: 3,
    syncookiesSent: 7,
  });
});

test("kernel stats: a table or a field that is absent reads as 0 or null, never as another row's value", () => {
  assert.equal(parseProcNetTable(SNMP, "TcpExt").size, 0);
  assert.equal(parseProcNetTable("Tcp: A B\n", "Tcp").size, 0);
  assert.equal(parseMemAvailable("MemTotal: 1 kB\n"), null);
  assert.deepEqual(kernelStatsOf("", "", ""), {
    memAvailableBytes: null,
    passiveOpens: 0,
    listenOverflows: 0,
    listenDrops: 0,
    reqQFullDrops: 0,
    syncookiesSent: 0,
  });
});
