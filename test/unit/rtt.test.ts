// Round trips: the HDR histograms clients send merge exactly, the client's recorder reads its
// own stamps back from echoes, and the hold's verdict against test.maxRttMs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PING_STAMP_BYTES } from "../../shared/protocol.js";
import { RttRecorder } from "../../workload/client/rttRecorder.js";
import { encodeRtt, mergeRtt, newRttHistogram, recordRttMicros, rttPercentiles } from "../../workload/rttHistogram.js";
import type { Diagnosis } from "../../workload/verify/diagnose.js";
import { withHoldChecks } from "../../workload/verify/holdChecks.js";
import { rttBreach, rttMarkdown, rttOutput, summarizeRtt } from "../../workload/verify/rtt.js";
import { initialState, withObservation } from "../../workload/verify/dashboardState.js";
import type { ClientObservation, Run } from "../../workload/verify/types.js";
import { runningClient } from "../support/observations.js";

/** An encoded histogram of the whole microseconds from..to (each once). */
function encodedRange(from: number, to: number): string {
  const h = newRttHistogram();
  for (let us = from; us <= to; us++) recordRttMicros(h, us);
  return encodeRtt(h);
}

function client(name: string, rtt: { pings: number; echoes: number; histogram: string } | undefined): ClientObservation {
  return runningClient(name, {
    status: {
      type: "status",
      client: name,
      target: 10,
      established: 10,
      inFlight: 0,
      attempted: 10,
      failed: { timeout: 0, refused: 0, addrnotavail: 0, reset: 0, emfile: 0, other: 0 },
      dropped: 0,
      rate: 0,
      elapsedSeconds: 5,
      rampSeconds: 1,
      final: false,
      ...(rtt ? { rtt } : {}),
    },
  });
}

describe("rtt histograms", () => {
  it("merge exactly: two clients' 1-1,000 µs and 1,001-2,000 µs give the percentiles of all 2,000", () => {
    const { merged, undecodable } = mergeRtt([encodedRange(1, 1000), encodedRange(1001, 2000)]);
    assert.deepEqual(undecodable, []);
    assert.deepEqual(rttPercentiles(merged), { count: 2000, p50: 1, p99: 1.98, p999: 1.998, max: 2 });
  });

  it("merging is order-free and adds counts: the same histogram twice doubles every count", () => {
    const a = encodedRange(1, 1000);
    const b = encodedRange(1001, 2000);
    assert.deepEqual(rttPercentiles(mergeRtt([b, a]).merged), rttPercentiles(mergeRtt([a, b]).merged));
    assert.deepEqual(rttPercentiles(mergeRtt([a, a]).merged), { count: 2000, p50: 0.5, p99: 0.99, p999: 0.999, max: 1 });
  });

  it("names what is not a histogram instead of merging it", () => {
    const { merged, undecodable } = mergeRtt([encodedRange(1, 10), "not a histogram", encodedRange(11, 20)]);
    assert.deepEqual(undecodable, [1]);
    assert.equal(merged.totalCount, 20);
  });

  it("an empty histogram has no percentiles", () => {
    assert.equal(rttPercentiles(newRttHistogram()), null);
  });
});

describe("RttRecorder: stamps out, echoes in", () => {
  const payload = Buffer.from("ping");

  it("a frame is the payload then the send time; its echo 0.5 ms later records 500 µs", () => {
    const r = new RttRecorder(payload);
    r.startHold(1000);
    const frame = r.frame(1000);
    assert.equal(frame.length, 4 + PING_STAMP_BYTES);
    assert.equal(frame.subarray(0, 4).toString(), "ping");
    r.sentAt(1000, 1);
    r.received(frame, frame.length, 1000.5);
    const s = r.status(6000);
    assert.equal(s.pings, 1);
    assert.equal(s.echoes, 1);
    assert.deepEqual(rttPercentiles(mergeRtt([s.histogram]).merged), { count: 1, p50: 0.5, p99: 0.5, p999: 0.5, max: 0.5 });
  });

  it("two frames in one read count twice; a split read and a ping sent before the hold count not at all", () => {
    const r = new RttRecorder(payload);
    const early = r.frame(10);
    r.startHold(100);
    const two = Buffer.concat([r.frame(200), r.frame(300)]);
    r.sentAt(200, 1);
    r.sentAt(300, 1);
    r.received(two, two.length, 301);
    r.received(two, 5, 301); // 5 bytes: not a whole frame
    r.received(early, early.length, 301); // sent before the hold
    const s = r.status(5300);
    assert.deepEqual([s.pings, s.echoes], [2, 2]);
    assert.equal(mergeRtt([s.histogram]).merged.totalCount, 2);
  });

  it("counts a tick's pings once they are 5 s old, with the echoes that came back by then", () => {
    const r = new RttRecorder(payload);
    r.startHold(0);
    r.sentAt(100, 10);
    r.sentAt(1100, 5);
    const first = r.frame(100);
    for (let i = 0; i < 9; i++) r.received(first, first.length, 200); // one of the ten never answered
    assert.deepEqual([r.status(5099).pings, r.status(5099).echoes], [0, 0]);
    assert.deepEqual([r.status(5100).pings, r.status(5100).echoes], [10, 9]);
    const second = r.frame(1100);
    r.received(second, second.length, 7000); // 5.9 s late: a round trip, but not in time
    assert.deepEqual([r.status(7100).pings, r.status(7100).echoes], [15, 9]);
  });
});

describe("rtt verdict (test.maxRttMs)", () => {
  const clients = [
    client("c1m-dev-client-1", { pings: 1000, echoes: 1000, histogram: encodedRange(1, 1000) }),
    client("c1m-dev-client-2", { pings: 1000, echoes: 1000, histogram: encodedRange(1001, 2000) }),
  ];

  it("summarizes the clients' last status lines", () => {
    assert.deepEqual(summarizeRtt(clients, 1.5), {
      clients: 2,
      pings: 2000,
      echoes: 2000,
      unanswered: 0,
      percentiles: { count: 2000, p50: 1, p99: 1.98, p999: 1.998, max: 2 },
      maxRttMs: 1.5,
      undecodable: [],
    });
    assert.equal(summarizeRtt([client("c1m-dev-client-1", undefined)], null), null);
  });

  it("p99 above the bound breaks it; at or below it holds; no bound, no breach", () => {
    assert.equal(
      rttBreach(summarizeRtt(clients, 1.5), 1.5),
      "p99 round trip 1.98 ms is above the p99 round-trip bound of 1.50 ms (test.maxRttMs) (p50 1.00 ms · p99 1.98 ms · p99.9 2.00 ms · max 2.00 ms (2,000 round trips)).",
    );
    assert.equal(rttBreach(summarizeRtt(clients, 1.98), 1.98), null);
    assert.equal(rttBreach(summarizeRtt(clients, null), null), null);
  });

  it("more than 1% of pings unanswered is an unbounded p99, however fast the answered ones were", () => {
    const silent = [client("c1m-dev-client-1", { pings: 1000, echoes: 989, histogram: encodedRange(1, 10) })];
    assert.equal(
      rttBreach(summarizeRtt(silent, 50), 50),
      "11 of 1,000 pings during the hold got no echo within 5 s (more than 1%), so p99 is unbounded, above the p99 round-trip bound of 50.0 ms (test.maxRttMs): the server accepts but no longer answers its connections.",
    );
    const tenLost = [client("c1m-dev-client-1", { pings: 1000, echoes: 990, histogram: encodedRange(1, 10) })];
    assert.equal(rttBreach(summarizeRtt(tenLost, 50), 50), null);
  });

  it("a bound with nothing measured is not a pass", () => {
    assert.match(rttBreach(null, 50) ?? "", /^No round trip was measured during the hold/);
  });

  const run = (cs: ClientObservation[]): Run => ({
    observations: [
      { t: 1, server: null, serverError: null, clients: cs, clientsError: null, conntrack: null, conntrackError: null },
    ],
    stopReason: "target",
    soakStartIndex: 0,
    soakSeconds: 5,
    timeoutSeconds: 60,
    stallSeconds: 5,
    intervalSeconds: 1,
  });
  const counted = (verdict: Diagnosis["verdict"]) =>
    ({
      verdict,
      limit: verdict === "pass" ? "none" : "nat-pool",
      diagnosis: "All 20 connections established.",
      warnings: [],
    }) as unknown as Diagnosis;

  it("turns a pass into a fail with limit rtt, keeping the count's sentence as a warning", () => {
    const d = withHoldChecks(counted("pass"), run(clients), { maxRttMs: 1.5 });
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "rtt");
    assert.match(d.diagnosis, /^p99 round trip 1\.98 ms is above/);
    assert.deepEqual(d.warnings, ["connections: All 20 connections established."]);
    assert.equal(d.rtt?.percentiles?.p99, 1.98);
  });

  it("leaves a pass within the bound, and adds the breach to a run that failed already as a warning", () => {
    assert.equal(withHoldChecks(counted("pass"), run(clients), { maxRttMs: 2 }).verdict, "pass");
    const failed = withHoldChecks(counted("fail"), run(clients), { maxRttMs: 1.5 });
    assert.equal(failed.limit, "nat-pool");
    assert.equal(failed.diagnosis, "All 20 connections established.");
    assert.match(failed.warnings[0] ?? "", /^p99 round trip 1\.98 ms/);
  });
});

describe("rtt in the report and on the dashboard", () => {
  const clients = [
    client("c1m-dev-client-1", { pings: 1000, echoes: 1000, histogram: encodedRange(1, 1000) }),
    client("c1m-dev-client-2", { pings: 1000, echoes: 998, histogram: encodedRange(1001, 2000) }),
  ];

  it("report.md states the percentiles, the bound and the unanswered pings; the outputs carry them in ms", () => {
    const s = summarizeRtt(clients, 5);
    assert.deepEqual(rttMarkdown(s), [
      "## Round trips during the hold",
      "",
      "p50 1.00 ms · p99 1.98 ms · p99.9 2.00 ms · max 2.00 ms (2,000 round trips); bound on p99: 5.00 ms.",
      "",
      "Pings due an answer: 2,000 from 2 clients, echoes 1,998, unanswered 2.",
      "",
    ]);
    assert.deepEqual(rttOutput(s), {
      count: 2000,
      p50: 1,
      p99: 1.98,
      p999: 1.998,
      max: 2,
      pings: 2000,
      echoes: 1998,
      unanswered: 2,
      maxRttMs: 5,
    });
  });

  it("the dashboard state carries the merged percentiles of the latest client view", () => {
    const o = { t: 1, server: null, serverError: null, clients, clientsError: null, conntrack: null, conntrackError: null };
    const plan = { target: 20, predicted: 20, bindingLimit: "target" as const, serverAddresses: ["10.201.0.2"] };
    const state = withObservation(initialState("dev", plan, 5), o, o, "soak");
    assert.equal(state.hold?.rtt?.p99, 1.98);
    assert.equal(state.hold?.rtt?.unanswered, 2);
  });
});
