// The observer's parsers: conntrack's per-cpu counters, the Docker API's answers, the clients' status lines.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { demuxLogs, toInspectRow } from "../../workload/verify/dockerClients.js";
import { lastLine, lastStatusLine } from "../../workload/verify/logLines.js";
import { parseConntrackS, parseProcConntrackStat, statsUrl } from "../../workload/verify/observe.js";

// The layout of /proc/net/stat/nf_conntrack on this machine's kernel (two CPUs).
const PROC_STAT = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0003d3d9  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00002af8 0000000c 00000001 00000000  00000000 00000000 00000000 00000010
0003d3d9  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000649 00000002 00000000  00000000 00000000 00000000 00000001
`;

describe("verify observe: conntrack", () => {
  it("sums the per-cpu hex counters by column name (not the global entries column)", () => {
    assert.deepEqual(parseProcConntrackStat(PROC_STAT), {
      insertFailed: 0x2af8 + 0x10,
      drop: 0xc + 0x649,
      earlyDrop: 3,
      searchRestart: 0x11,
    });
  });

  it("finds columns by name when a kernel orders them differently", () => {
    const older =
      "entries searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart\n" +
      "00000010 0 0 0 0 0 0 0 0 0000000a 00000005 00000000 0 0 0 0 00000002\n";
    assert.deepEqual(parseProcConntrackStat(older), { insertFailed: 10, drop: 5, earlyDrop: 0, searchRestart: 2 });
  });

  it("parses conntrack -S", () => {
    const text =
      "cpu=0   \tfound=0 invalid=3 insert=0 insert_failed=7 drop=2 early_drop=0 error=0 search_restart=4 clash_resolve=0 chaintoolong=0 \n" +
      "cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=1 drop=1 early_drop=5 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 \n";
    assert.deepEqual(parseConntrackS(text), { insertFailed: 8, drop: 3, earlyDrop: 5, searchRestart: 4 });
  });

  it("rejects an empty stat file", () => {
    assert.throws(() => parseProcConntrackStat(""), /empty/);
  });
});

describe("verify observe: client containers", () => {
  it("takes state, exit code, restarts and OOM from an inspect", () => {
    const rows = [
      {
        Id: "0123456789abcdef",
        Name: "/c1m-client-0",
        RestartCount: 0,
        State: { Status: "running", ExitCode: 0, OOMKilled: false, StartedAt: "2026-12-02T10:00:01.5Z" },
      },
      {
        Id: "ba9876543210fedc",
        Name: "/c1m-client-1",
        RestartCount: 3,
        State: { Status: "exited", ExitCode: 137, OOMKilled: true, StartedAt: "0001-01-01T00:00:00Z" },
      },
      { Id: "feedfeedfeed0000" },
    ].map(toInspectRow);
    assert.deepEqual(rows, [
      {
        id: "0123456789abcdef",
        name: "c1m-client-0",
        state: "running",
        exitCode: 0,
        restartCount: 0,
        oomKilled: false,
        startedAt: "2026-12-02T10:00:01.5Z",
      },
      {
        id: "ba9876543210fedc",
        name: "c1m-client-1",
        state: "exited",
        exitCode: 137,
        restartCount: 3,
        oomKilled: true,
        startedAt: null,
      },
      {
        id: "feedfeedfeed0000",
        name: "feedfeedfeed0000",
        state: "unknown",
        exitCode: null,
        restartCount: 0,
        oomKilled: false,
        startedAt: null,
      },
    ]);
  });

  it("splits a framed log into stdout and stderr; an unframed one is stdout", () => {
    const frame = (stream: number, text: string) => {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    };
    const framed = Buffer.concat([frame(1, "a\n"), frame(2, "oops\n"), frame(1, "b\n"), frame(2, "")]);
    assert.deepEqual(demuxLogs(framed), { stdout: "a\nb\n", stderr: "oops\n" });
    assert.deepEqual(demuxLogs(Buffer.from("plain tty output\n")), { stdout: "plain tty output\n", stderr: "" });
    assert.deepEqual(demuxLogs(frame(1, "cut").subarray(0, 9)), {
      stdout: frame(1, "cut").subarray(0, 9).toString(),
      stderr: "",
    });
    assert.deepEqual(demuxLogs(Buffer.alloc(0)), { stdout: "", stderr: "" });
  });

  it("takes the last valid status line from a log tail, skipping other output", () => {
    const line = (established: number) =>
      JSON.stringify({
        type: "status",
        client: "c1m-client-0",
        target: 100,
        established,
        inFlight: 0,
        attempted: established,
        failed: { timeout: 1, refused: 0, addrnotavail: 0, reset: 0, emfile: 0, other: 0 },
        dropped: 0,
        rate: 5,
        elapsedSeconds: 3,
        rampSeconds: null,
        final: false,
      });
    const tail = [line(10), line(20), "some log message", '{"type":"status","client":"broken"}', "{not json", ""].join("\n");
    assert.equal(lastStatusLine(tail)?.established, 20);
    assert.equal(lastStatusLine("nothing here\n"), null);
    assert.equal(lastLine("a\nb\n\n"), "b");
    assert.equal(lastLine("\n"), null);
  });

  it("builds the /stats URL from the metrics URL", () => {
    assert.equal(statsUrl("http://10.201.0.2:9100"), "http://10.201.0.2:9100/stats");
    assert.equal(statsUrl("http://10.201.0.2:9100/"), "http://10.201.0.2:9100/stats");
    assert.equal(statsUrl("http://127.0.0.1:1234/custom/stats"), "http://127.0.0.1:1234/custom/stats");
  });
});
