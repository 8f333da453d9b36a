// The live dashboard's state: the ramp per server IP and in total, the latest clients, failures
// and conntrack (counters since the first poll), the spread, then the verdict.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initialState, withObservation, withVerdict } from "../../workload/verify/dashboardState.js";
import { loadFixture } from "./verify-fixtures.js";
import { testOutput } from "../../workload/verify/report.js";
import { diagnose } from "../../workload/verify/diagnose.js";

describe("verify dashboard state", () => {
  it("follows a recorded ramp over 3 server IPs to its verdict", () => {
    const fx = loadFixture("three-ips-pass");
    const obs = fx.run.observations;
    obs.at(-1)!.conntrack!.insertFailed = 700;
    obs.at(-1)!.clients![0]!.status!.failed.timeout = 12;
    const state = initialState("dev", fx.plan, 5);
    assert.deepEqual(Object.keys(state.perIp), ["10.201.0.2", "10.201.0.3", "10.201.0.4"]);
    for (const o of obs) withObservation(state, o, obs[0]!, "ramp");

    assert.deepEqual(state.t, [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(state.total, [0, 30_000, 60_000, 90_000, 120_000, 144_000]);
    assert.deepEqual(state.perIp["10.201.0.3"], [0, 10_000, 20_000, 30_000, 40_000, 48_000]);
    assert.deepEqual(state.spread, { count: 3, min: 48_000, median: 48_000, max: 48_000, lagging: [] });
    const l = state.latest!;
    assert.equal(l.total, 144_000);
    assert.equal(l.rate, 12_000);
    assert.deepEqual(l.clients, { running: 9, count: 9, established: 144_000 });
    assert.deepEqual(l.failures, { timeout: 12, refused: 0, addrnotavail: 0, reset: 0, emfile: 0, other: 0 });
    assert.equal(l.conntrack?.count, 144_005);
    assert.equal(l.conntrack?.insertFailed, 700);

    const output = testOutput(diagnose(fx.plan, fx.run, { expect: "all" }), null);
    withVerdict(state, output);
    assert.equal(state.phase, "done");
    assert.equal(state.verdict?.verdict, "pass");
    assert.equal(state.verdict?.total, 144_000);
    assert.equal(state.lingerSeconds, 5);
  });

  it("keeps the series aligned through an unreachable poll and an address the plan did not name", () => {
    const fx = loadFixture("three-ips-pass");
    const [o0, o1, o2] = fx.run.observations;
    const state = initialState("dev", fx.plan, 0);
    withObservation(state, o0!, o0!, "ramp");
    withObservation(state, { ...o1!, server: null, serverError: "no answer within 5000 ms" }, o0!, "ramp");
    assert.equal(state.latest?.total, null);
    assert.equal(state.latest?.serverError, "no answer within 5000 ms");
    o2!.server!.perLocalAddress["10.201.0.9:9000"] = 5;
    withObservation(state, o2!, o0!, "ramp");
    assert.deepEqual(state.t, [0, 4]);
    assert.deepEqual(state.perIp["10.201.0.9"], [0, 5]);
    assert.deepEqual(state.perIp["10.201.0.2"], [0, 20_000]);
    assert.equal(state.latest?.rate, 15_000);
    assert.deepEqual(state.spread?.lagging, [["10.201.0.9", 5]]);
  });
});
