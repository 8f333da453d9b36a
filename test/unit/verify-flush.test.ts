// The conntrack flush in the connection test: conntrack's count line, the tool run without a
// shell (a fake binary), the watch loop (fake clock, scripted polls), the numbers and the verdict.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ClientStatus, ServerStats } from "../../shared/protocol.js";
import { encodeRtt, newRttHistogram, recordRttMicros } from "../../workload/rttHistogram.js";
import type { ClientObservation, Observation } from "../../workload/verify/types.js";
import type { Clock } from "../../workload/verify/wait.js";
import { conntrackEntries, parseEntryCount } from "../../workload/verify/scenarios/conntrackTool.js";
import { runFlush } from "../../workload/verify/scenarios/flushObserve.js";
import { summarizeFlush, type FlushRun } from "../../workload/verify/scenarios/flushMeasure.js";
import { flushBreach, flushOutput, withFlush } from "../../workload/verify/scenarios/flushVerdict.js";
import { flushMarkdown } from "../../workload/verify/scenarios/flushReport.js";
import type { Diagnosis } from "../../workload/verify/summary.js";

const histogram = (...micros: number[]) => {
  const h = newRttHistogram();
  for (const m of micros) recordRttMicros(h, m);
  return encodeRtt(h);
};

const client = (name: string, s: Partial<ClientStatus>, rtt?: ClientStatus["rtt"]): ClientObservation => ({
  name,
  id: name,
  state: "running",
  exitCode: null,
  restartCount: 0,
  oomKilled: false,
  lastError: null,
  status: {
    type: "status",
    client: name,
    target: 300,
    established: 300,
    inFlight: 0,
    attempted: 300,
    failed: { timeout: 0, refused: 0, addrnotavail: 0, reset: 0, emfile: 0, other: 0 },
    dropped: 0,
    rate: 0,
    elapsedSeconds: 1,
    rampSeconds: 1,
    final: false,
    reconnected: 0,
    reconnecting: 0,
    ...(rtt ? { rtt } : {}),
    ...s,
  },
});

const stats = (total: number): ServerStats =>
  ({
    total,
    accepted: total,
    closed: 0,
    perLocalAddress: {},
    perRemoteIp: {},
    samples: {},
    sharedSourcePorts: {},
  }) as unknown as ServerStats;

const obs = (t: number, total: number | null, clients: ClientObservation[] | null, insertFailed = 5): Observation => ({
  t,
  server: total === null ? null : stats(total),
  serverError: total === null ? "connect ECONNREFUSED" : null,
  clients,
  clientsError: null,
  conntrack: { count: 1000, max: 262_144, insertFailed, drop: 5, earlyDrop: 0, searchRestart: 0 },
  conntrackError: null,
});

const BEFORE = [
  client("a", {}, { pings: 600, echoes: 600, histogram: histogram(500, 500) }),
  client("b", {}, { pings: 300, echoes: 300, histogram: histogram(500) }),
];

test("conntrack's count line: deleted or shown; none without it", () => {
  assert.equal(parseEntryCount("conntrack v1.4.7 (conntrack-tools): 602 flow entries have been deleted.\n"), 602);
  assert.equal(parseEntryCount("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n"), 0);
  assert.equal(parseEntryCount("conntrack v1.4.7 (conntrack-tools): Operation not permitted\n"), null);
});

test("the tool: one `-D -s <subnet>` per subnet as separate arguments (no shell), counts summed; exit 1 with a count is nothing matched; a missing tool says what to install", async () => {
  const dir = mkdtempSync(join(tmpdir(), "c1m-flush-"));
  try {
    const bin = join(dir, "conntrack");
    // Records its arguments one a line; "deletes" 600 from the first subnet, none (exit 1) from the second.
    writeFileSync(
      bin,
      `#!/bin/sh\nfor a in "$@"; do echo "$a" >> ${dir}/argv; done\nif [ "$3" = "172.30.201.0/24" ]; then echo "conntrack v1.4.7 (conntrack-tools): 600 flow entries have been deleted." >&2; exit 0; fi\necho "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted." >&2; exit 1\n`,
    );
    chmodSync(bin, 0o755);
    const entries = conntrackEntries(["172.30.201.0/24", "172.30.202.0/24"], bin);
    assert.deepEqual(await entries("delete"), { entries: 600, error: null });
    assert.equal(readFileSync(join(dir, "argv"), "utf8"), "-D\n-s\n172.30.201.0/24\n-D\n-s\n172.30.202.0/24\n");
    writeFileSync(bin, `#!/bin/sh\necho "conntrack v1.4.7 (conntrack-tools): Operation not permitted" >&2; exit 1\n`);
    assert.deepEqual(await entries("count"), {
      entries: null,
      error: "conntrack -L -s 172.30.201.0/24: exit 1: conntrack v1.4.7 (conntrack-tools): Operation not permitted",
    });
    assert.deepEqual(await conntrackEntries(["172.30.201.0/24"], join(dir, "missing"))("delete"), {
      entries: null,
      error: "conntrack -D -s 172.30.201.0/24: no conntrack tool on this machine (apt-get install conntrack)",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

class FakeClock implements Clock {
  ms = 0;
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
  }
}

test("watch loop: one poll, the delete, a poll a second until 19 s with all held, then the lab's entries counted", async () => {
  const clock = new FakeClock();
  const calls: string[] = [];
  let polls = 0;
  const run = await runFlush(
    { target: 600, maxRecoverySeconds: 60, minObserveSeconds: 19, intervalSeconds: 1 },
    {
      poll: async () => (polls++, { ...obs(0, 600, BEFORE), t: undefined } as unknown as Omit<Observation, "t">),
      clock,
      entries: async (op) => (calls.push(op), { entries: op === "delete" ? 602 : 600, error: null }),
      onObservation: () => {},
    },
    null,
  );
  assert.deepEqual(calls, ["delete", "count"]);
  assert.equal(polls, 20);
  assert.deepEqual([run.observations.at(-1)!.t, run.deleted, run.entriesAfter, run.deleteError], [19, 602, 600, null]);
  assert.deepEqual(run.clientsBefore, BEFORE, "the clients' lines at the delete are the counters' base");
});

test("watch loop: a delete that fails ends it at once; one short of the target watches to the bound", async () => {
  const failed = await runFlush(
    { target: 600, maxRecoverySeconds: 60, minObserveSeconds: 19, intervalSeconds: 1 },
    {
      poll: async () => obs(0, 600, null),
      clock: new FakeClock(),
      entries: async () => ({ entries: null, error: "no conntrack tool on this machine (apt-get install conntrack)" }),
      onObservation: () => {},
    },
    null,
  );
  assert.deepEqual(
    [failed.observations.length, failed.deleteError],
    [1, "no conntrack tool on this machine (apt-get install conntrack)"],
  );
  const short = await runFlush(
    { target: 600, maxRecoverySeconds: 30, minObserveSeconds: 19, intervalSeconds: 1 },
    {
      poll: async () => obs(0, 599, null),
      clock: new FakeClock(),
      entries: async () => ({ entries: 5, error: null }),
      onObservation: () => {},
    },
    null,
  );
  assert.equal(short.observations.at(-1)!.t, 30);
});

/** One connection of client a reset and came back; the server kept its old socket (601). */
const DIPPED: FlushRun = {
  observations: [
    obs(0, 600, BEFORE, 5),
    obs(1, 600, BEFORE, 5),
    obs(2, 601, [client("a", { established: 299, dropped: 1, reconnecting: 1 }), BEFORE[1]!], 5),
    obs(
      3,
      601,
      [
        client("a", { dropped: 1, reconnected: 1 }, { pings: 1800, echoes: 1799, histogram: histogram(500, 500, 900, 2000) }),
        client("b", {}, { pings: 900, echoes: 900, histogram: histogram(500, 700, 800) }),
      ],
      7,
    ),
  ],
  deleted: 602,
  deleteError: null,
  entriesAfter: 600,
  maxRecoverySeconds: 60,
  clientsBefore: BEFORE,
};

test("flush summary: drops and reconnects since the delete, the server's socket left open, pings and round trips since, insert failures", () => {
  const s = summarizeFlush(DIPPED, 600);
  assert.deepEqual(
    [s.totalBefore, s.lowestTotal, s.finalTotal, s.clientsHeld, s.halfOpenAtServer, s.lostForGood, s.backAfterSeconds],
    [600, 600, 601, 600, 1, 0, 3],
  );
  assert.deepEqual(s.clients, { dropped: 1, reconnected: 1, reconnecting: 0 });
  assert.equal(s.pings!.sent, 1800);
  assert.equal(s.pings!.unanswered, 1);
  // Only the round trips recorded since: 0.9, 2.0 (a) and 0.7, 0.8 ms (b).
  assert.equal(s.pings!.percentiles!.count, 4);
  assert.equal(s.pings!.percentiles!.max, 2);
  assert.deepEqual(s.conntrack, { insertFailed: 2, drop: 0, earlyDrop: 0 });
});

const PASSED: Diagnosis = {
  verdict: "pass",
  limit: "none",
  diagnosis: "All 600 connections established.",
  warnings: [],
} as unknown as Diagnosis;

test("flush verdict: nothing lost for good adds one sentence; held throughout says so", () => {
  const d = withFlush(PASSED, summarizeFlush(DIPPED, 600));
  assert.equal(d.verdict, "pass");
  assert.equal(
    d.diagnosis,
    "All 600 connections established. After the lab's 602 conntrack entries were deleted, not all 600 connections held, but all were back 3 s after the delete " +
      "(clients dropped 1, reconnected 1; 1 left open at the server by their clients; 1 of 1,800 pings unanswered, p99 2.00 ms; 600 lab entries in the table again; conntrack insert failures +2).",
  );
  const steady: FlushRun = { ...DIPPED, observations: [obs(0, 600, BEFORE), obs(19, 600, BEFORE)] };
  assert.match(
    withFlush(PASSED, summarizeFlush(steady, 600)).diagnosis,
    /deleted, all 600 connections held over 19 s \(clients dropped 0, reconnected 0; 0 of 0 pings unanswered; /,
  );
});

test("flush verdict: lost for good fails with limit nat-state; a failed delete fails naming its error; not run is a warning", () => {
  const lost: FlushRun = {
    ...DIPPED,
    observations: [
      obs(0, 600, BEFORE),
      obs(60, 590, [client("a", { established: 290, dropped: 10, reconnecting: 10 }), BEFORE[1]!]),
    ],
  };
  const d = withFlush(PASSED, summarizeFlush(lost, 600));
  assert.deepEqual([d.verdict, d.limit], ["fail", "nat-state"]);
  assert.equal(
    d.diagnosis,
    "After the lab's 602 conntrack entries were deleted, 10 connections were lost for good: 590 of 600 held (server 590, clients 590) 60 s later " +
      "(bound test.maxRecoverySeconds 60 s) (clients dropped 10, reconnected 0; 0 of 0 pings unanswered; 600 lab entries in the table again; conntrack insert failures +0).",
  );
  assert.deepEqual(d.warnings, ["connections: All 600 connections established."]);
  assert.equal(flushOutput(summarizeFlush(lost, 600)).held, false);
  const failed = summarizeFlush(
    { ...DIPPED, observations: [obs(0, 600, BEFORE)], deleted: null, deleteError: "exit 1: Operation not permitted" },
    600,
  );
  assert.equal(
    flushBreach(failed),
    "The conntrack flush could not delete the lab's NAT entries (exit 1: Operation not permitted): nothing was measured.",
  );
  assert.equal(withFlush(PASSED, failed).limit, "nat-state");
  const notRun = withFlush(PASSED, null, "the ramp stopped (stall) short of the target");
  assert.deepEqual(
    [notRun.verdict, notRun.warnings],
    ["pass", ["conntrack flush not run: the ramp stopped (stall) short of the target"]],
  );
});

test("flush report: its section names the numbers", () => {
  const md = flushMarkdown(summarizeFlush(DIPPED, 600)).join("\n");
  assert.match(md, /^## Conntrack flush/);
  assert.match(md, /\| Lab entries deleted +\| +602 \|/);
  assert.match(md, /\| Left open at the server by their clients +\| +1 \|/);
  assert.match(md, /\| Conntrack insert failures \(whole table\) +\| +\+2 \|/);
});
