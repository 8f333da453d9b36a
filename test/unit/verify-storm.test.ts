// The reconnect storm in the connection test: the loop around the restart (fake clock, scripted
// polls, a fake restart), the numbers from its polls, and the verdict.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelStats, ServerStats } from "../../shared/protocol.js";
import type { Observation } from "../../workload/verify/types.js";
import type { Clock } from "../../workload/verify/wait.js";
import { runStorm } from "../../workload/verify/scenarios/reconnectStorm.js";
import { handshakeSeries, summarizeStorm, type StormRun } from "../../workload/verify/scenarios/stormMeasure.js";
import { stormBreach, stormOutput, withStorm } from "../../workload/verify/scenarios/stormVerdict.js";
import type { Diagnosis } from "../../workload/verify/summary.js";

const kernel = (passiveOpens: number, listenDrops = 0, more: Partial<KernelStats> = {}): KernelStats => ({
  memAvailableBytes: null,
  passiveOpens,
  listenOverflows: 0,
  listenDrops,
  reqQFullDrops: 0,
  syncookiesSent: 0,
  ...more,
});

const stats = (total: number, k?: KernelStats): ServerStats => ({
  total,
  accepted: total,
  closed: 0,
  acceptRate: 0,
  workers: 1,
  uptimeSeconds: 1,
  perLocalAddress: { "10.201.0.2:9000": total },
  perRemoteIp: {},
  samples: {},
  sharedSourcePorts: {},
  ...(k ? { kernel: k } : {}),
});

const obs = (t: number, server: ServerStats | null): Observation => ({
  t,
  server,
  serverError: server ? null : "connect ECONNREFUSED",
  clients: null,
  clientsError: null,
  conntrack: null,
  conntrackError: null,
});

test("handshakes/s: Δ(PassiveOpens + ListenDrops) per second between polls with counters; a poll without the server is skipped", () => {
  const series = handshakeSeries([
    obs(0, stats(1000, kernel(1000))),
    obs(1, null),
    obs(2, stats(0, kernel(1000))),
    obs(3, stats(900, kernel(1850, 50))),
    obs(3.5, stats(1000, kernel(1950, 50))),
  ]);
  assert.deepEqual(
    series.map((p) => p.handshakesPerSecond),
    [null, null, 0, 900, 200],
  );
});

const RUN: StormRun = {
  observations: [
    obs(0, stats(1000, kernel(1000))),
    obs(1, null),
    obs(2, stats(0, kernel(1000, 0))),
    obs(3, stats(600, kernel(1600, 30, { listenOverflows: 30 }))),
    obs(4, stats(1000, kernel(2000, 30, { listenOverflows: 30 }))),
  ],
  restartSeconds: 1.4,
  restartError: null,
  firstAfterRestart: 2,
  maxRecoverySeconds: 60,
  clientsBefore: null,
};

test("storm summary: recovery at the first poll after the restart with all back, the peak rate and the counter increases", () => {
  const s = summarizeStorm(RUN, 1000, 1);
  assert.equal(s.recoverySeconds, 4);
  assert.equal(s.lostForGood, 0);
  assert.equal(s.finalTotal, 1000);
  assert.equal(s.lowestTotal, 0);
  assert.equal(s.peakHandshakesPerSecond, 630);
  assert.equal(s.peakAt, 3);
  assert.deepEqual(s.kernel, { passiveOpens: 1000, listenDrops: 30, listenOverflows: 30, reqQFullDrops: 0, syncookiesSent: 0 });
  assert.equal(s.clients, null);
});

test("storm summary: a poll before the new server listened never counts as recovered; short of the target, the rest is lost for good", () => {
  // The old server's full count read after the kill began, before the restart finished.
  const early: StormRun = {
    ...RUN,
    observations: [...RUN.observations.slice(0, 1), obs(0.5, stats(1000))],
    firstAfterRestart: null,
  };
  assert.equal(summarizeStorm(early, 1000, 1).recoverySeconds, null);
  const short: StormRun = { ...RUN, observations: [...RUN.observations.slice(0, 4)] };
  const s = summarizeStorm(short, 1000, 1);
  assert.equal(s.recoverySeconds, null);
  assert.equal(s.lostForGood, 400);
});

const PASSED: Diagnosis = {
  verdict: "pass",
  limit: "none",
  diagnosis: "All 1,000 connections established and held.",
  warnings: [],
} as unknown as Diagnosis;

test("storm verdict: back in time adds a sentence; not back fails with limit recovery and one sentence; a failed run only gets a warning", () => {
  const ok = withStorm(PASSED, summarizeStorm(RUN, 1000, 1));
  assert.equal(ok.verdict, "pass");
  assert.equal(
    ok.diagnosis,
    "All 1,000 connections established and held. After a server restart all 1,000 connections were back in 4 s (bound 60 s; peak 630 handshakes/s at the listeners, ListenDrops +30).",
  );
  const short = summarizeStorm({ ...RUN, observations: RUN.observations.slice(0, 4) }, 1000, 1);
  const failed = withStorm(PASSED, short);
  assert.equal(failed.verdict, "fail");
  assert.equal(failed.limit, "recovery");
  assert.equal(
    failed.diagnosis,
    "After the server restart not every connection came back within test.maxRecoverySeconds (60 s): 600 of 1,000 were back, 400 lost for good; peak 630 handshakes/s at the listeners, ListenDrops +30.",
  );
  assert.deepEqual(failed.warnings, ["connections: All 1,000 connections established and held."]);
  const already = withStorm({ ...PASSED, verdict: "fail", limit: "soak-loss" }, short);
  assert.equal(already.limit, "soak-loss");
  assert.equal(already.warnings.length, 1);
  assert.equal(stormOutput(short).recovered, false);
});

test("storm verdict: a restart that failed fails the run, naming its error; a storm not run is a warning", () => {
  const s = summarizeStorm({ ...RUN, restartError: "exit 1: c1m-lab: no connection server to restart" }, 1000, 1);
  assert.equal(stormBreach(s), "The reconnect storm's server restart failed (exit 1: c1m-lab: no connection server to restart).");
  const notRun = withStorm(PASSED, null, "the ramp stopped (stall) short of the target");
  assert.equal(notRun.verdict, "pass");
  assert.deepEqual(notRun.warnings, ["reconnect storm not run: the ramp stopped (stall) short of the target"]);
});

class FakeClock implements Clock {
  ms = 0;
  /** Called after each sleep (a restart finishing meanwhile). */
  onSleep: () => void = () => {};
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
    this.onSleep();
  }
}

test("storm loop: polls each interval from the restart, counts only polls begun after the new server listened, stops once all are back", async () => {
  const clock = new FakeClock();
  // The restart finishes between the polls at 2 s and 3 s; the server's count as the polls see it
  // (the 1 s poll still read the old server's 1,000).
  let finishRestart: () => void = () => {};
  const restart = () =>
    new Promise<{ ok: boolean; error: null }>((resolve) => (finishRestart = () => resolve({ ok: true, error: null })));
  const totals = [1000, 1000, null, 500, 1000];
  let i = 0;
  clock.onSleep = () => {
    if (clock.ms >= 2500) finishRestart();
  };
  const poll = async () => {
    const total = totals[Math.min(i++, totals.length - 1)]!;
    return obs(0, total === null ? null : stats(total));
  };
  const phases: string[] = [];
  const run = await runStorm(
    { target: 1000, maxRecoverySeconds: 60, intervalSeconds: 1, settleSeconds: 5 },
    { poll, clock, restart, onObservation: (_, phase) => phases.push(phase) },
    null,
  );
  assert.deepEqual(
    run.observations.map((o) => [o.t, o.server?.total ?? null]),
    [
      [0, 1000],
      [1, 1000],
      [2, null],
      [3, 500],
      [4, 1000],
    ],
  );
  assert.deepEqual(phases, ["restart", "restart", "restart", "storm", "settle"]);
  assert.equal(run.firstAfterRestart, 3, "the 1 s poll read the old server: not a recovery");
  assert.equal(summarizeStorm(run, 1000, 1).recoverySeconds, 4);
});

test("storm loop: gives up at maxRecoverySeconds when the count never gets back", async () => {
  const clock = new FakeClock();
  const poll = async () => obs(0, stats(clock.ms === 0 ? 1000 : 700));
  const run = await runStorm(
    { target: 1000, maxRecoverySeconds: 5, intervalSeconds: 1, settleSeconds: 5 },
    { poll, clock, restart: async () => ({ ok: true, error: null }), onObservation: () => {} },
    null,
  );
  assert.equal(run.observations.at(-1)!.t, 5);
  const s = summarizeStorm(run, 1000, 1);
  assert.deepEqual([s.recoverySeconds, s.lostForGood], [null, 300]);
});
