// find-limit's judgement (pure) and its stepping loop (fake clock and polls): each criterion on a
// literal step, a step measured from polls, and a run that steps until the server stops at 1,200.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ClientStatus, ServerStats } from "../../shared/protocol.js";
import { FAILURE_CLASSES } from "../../shared/protocol.js";
import { judgeStep } from "../../workload/verify/findLimit/judge.js";
import { measureStep, type StepMeasure } from "../../workload/verify/findLimit/measure.js";
import { runFindLimit } from "../../workload/verify/findLimit/loop.js";
import { findLimitResult } from "../../workload/verify/findLimit/result.js";
import { planVersusMeasured } from "../../workload/verify/findLimit/planVersus.js";
import type { FindLimitSettings } from "../../workload/verify/findLimit/settings.js";
import type { Observation, VerifyPlan } from "../../workload/verify/types.js";
import type { Clock } from "../../workload/verify/wait.js";
import { runningClient } from "../support/observations.js";

const SETTINGS: FindLimitSettings = {
  stepConnections: 500,
  stepSeconds: 4,
  maxFailureRate: 0.01,
  minMemAvailableMiB: 256,
  maxWorkerCpu: 0.9,
  maxRttMs: 50,
};

const failedNone = Object.fromEntries(FAILURE_CLASSES.map((k) => [k, 0])) as ClientStatus["failed"];

function measure(over: Partial<StepMeasure> = {}): StepMeasure {
  return {
    step: 2,
    target: 1000,
    held: 1000,
    reached: true,
    rampSeconds: 1,
    holdSeconds: 4,
    clients: { attempted: 500, failed: 0, failedBy: { ...failedNone }, dropped: 0 },
    rtt: { pings: 1000, unanswered: 0, percentiles: { count: 1000, p50: 1, p99: 10, p999: 20, max: 30 } },
    memAvailableMinBytes: 1024 * 2 ** 20,
    busiestWorker: { pid: 7, cpu: 0.5 },
    ...over,
  };
}

const breaks = (m: StepMeasure) => judgeStep(m, SETTINGS).breaks;

test("a step within every bound holds", () => {
  assert.deepEqual(breaks(measure()), []);
});

test("each criterion breaks a step with its own sentence", () => {
  const failed = { ...failedNone, refused: 6, timeout: 1 };
  assert.deepEqual(breaks(measure({ clients: { attempted: 500, failed: 7, failedBy: failed, dropped: 0 }, held: 993 })), [
    {
      criterion: "connect-failures",
      reason: "7 of the step's 500 connects failed (timeout 1, refused 6), above test.findLimit.maxFailureRate 1.0%.",
    },
  ]);
  assert.deepEqual(breaks(measure({ held: 980 })), [
    { criterion: "unheld", reason: "The server held 980 of the step's 1,000 at its end (reached the target, then lost some)." },
  ]);
  assert.deepEqual(
    breaks(measure({ rtt: { pings: 1000, unanswered: 0, percentiles: { count: 1000, p50: 1, p99: 60, p999: 70, max: 80 } } })),
    [{ criterion: "rtt", reason: "p99 round trip 60.0 ms is above test.maxRttMs 50.0 ms." }],
  );
  assert.deepEqual(breaks(measure({ memAvailableMinBytes: 200 * 2 ** 20 })), [
    {
      criterion: "memory",
      reason: "The server host's MemAvailable fell to 200 MiB, below test.findLimit.minMemAvailableMiB 256 MiB.",
    },
  ]);
  assert.deepEqual(breaks(measure({ busiestWorker: { pid: 7, cpu: 0.97 } })), [
    {
      criterion: "worker-cpu",
      reason: "Server worker 7 used 0.97 cores over the step, above test.findLimit.maxWorkerCpu 0.9: it is saturated.",
    },
  ]);
});

test("a bound set to null is not judged", () => {
  const off = { ...SETTINGS, maxRttMs: null, minMemAvailableMiB: null, maxWorkerCpu: null };
  const m = measure({ memAvailableMinBytes: 1, busiestWorker: { pid: 7, cpu: 1 }, rtt: null });
  assert.deepEqual(judgeStep(m, off).breaks, []);
});

function stats(total: number, workerCpu: number, memMiB = 1000): ServerStats {
  return {
    total,
    accepted: total,
    closed: 0,
    acceptRate: 0,
    workers: 1,
    uptimeSeconds: 1,
    perLocalAddress: {},
    perRemoteIp: {},
    samples: {},
    sharedSourcePorts: {},
    perWorker: [{ pid: 7, total, accepted: total, closed: 0, acceptErrors: 0, paused: false, pauses: 0, cpuSeconds: workerCpu }],
    kernel: {
      memAvailableBytes: memMiB * 2 ** 20,
      passiveOpens: 0,
      listenOverflows: 0,
      listenDrops: 0,
      reqQFullDrops: 0,
      syncookiesSent: 0,
    },
  };
}

function status(target: number, attempted: number, established: number, refused = 0, inFlight = 0): ClientStatus {
  return {
    type: "status",
    client: "c",
    target,
    established,
    inFlight,
    attempted,
    failed: { ...failedNone, refused },
    dropped: 0,
    rate: 0,
    elapsedSeconds: 1,
    rampSeconds: null,
    final: false,
  };
}

const poll = (t: number, total: number, cpu: number, s: ClientStatus): Observation => ({
  t,
  server: stats(total, cpu, 900 - total / 10),
  serverError: null,
  clients: [runningClient("c", { status: s })],
  clientsError: null,
  conntrack: null,
  conntrackError: null,
});

test("measureStep: counters since the poll before the step, the hold's worker CPU, the lowest MemAvailable", () => {
  const base = poll(10, 1000, 5, status(1000, 1000, 1000));
  const observations = [
    poll(12, 1400, 5.2, status(1500, 1400, 1400)),
    poll(14, 1500, 5.6, status(1500, 1500, 1500)),
    poll(18, 1500, 6, status(1500, 1500, 1500)),
  ];
  const m = measureStep({ step: 3, target: 1500, base, observations, reachedIndex: 1 });
  assert.deepEqual(
    { ...m, rtt: undefined },
    {
      step: 3,
      target: 1500,
      held: 1500,
      reached: true,
      rampSeconds: 4,
      holdSeconds: 4,
      clients: { attempted: 500, failed: 0, failedBy: failedNone, dropped: 0 },
      rtt: undefined,
      memAvailableMinBytes: 750 * 2 ** 20,
      busiestWorker: { pid: 7, cpu: 0.1 },
    },
  );
});

/** Polls a lab whose server holds at most 1,200; the clients' target rises by 500 at each nextStep. */
function cappedLab(cap: number) {
  let target = 500;
  let attempted = 500;
  let now = 0;
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
  const poll = async () => {
    const held = Math.min(target, cap);
    const s = status(target, attempted, held, attempted - held);
    return {
      server: stats(held, now / 100_000),
      serverError: null,
      clients: [runningClient("c", { status: s })],
      clientsError: null,
      conntrack: null,
      conntrackError: null,
    };
  };
  const nextStep = async () => {
    target += 500;
    attempted += 500;
    return null;
  };
  return { clock, poll, nextStep };
}

const PLAN = { target: 1500, predicted: 1500, bindingLimit: "target" } as VerifyPlan;
// The fake clients do not ping.
const NO_RTT = { ...SETTINGS, maxRttMs: null };

test("runFindLimit steps until the first broken step: capacity 1,000, stopped by connect-failures at 1,500", async () => {
  const lab = cappedLab(1200);
  const totals = [500, 1000, 1500];
  const opts = { settings: NO_RTT, totals, timeoutSeconds: 30, stallSeconds: 4, intervalSeconds: 2 };
  const run = await runFindLimit(opts, lab);
  const r = findLimitResult(run, PLAN, totals, NO_RTT);
  assert.equal(run.end, "break");
  assert.equal(r.capacity, 1000);
  assert.equal(r.stoppedBy, "connect-failures");
  assert.deepEqual(
    r.curve.map((p) => [p.target, p.held, p.failed, p.broke]),
    [
      [500, 500, 0, []],
      [1000, 1000, 0, []],
      [1500, 1200, 300, ["connect-failures", "unheld"]],
    ],
  );
});

test("runFindLimit with no limit below the plan's target: every step holds, stopped by the ceiling", async () => {
  const lab = cappedLab(10_000);
  const totals = [500, 1000, 1500];
  const run = await runFindLimit({ settings: NO_RTT, totals, timeoutSeconds: 30, stallSeconds: 4, intervalSeconds: 2 }, lab);
  const r = findLimitResult(run, PLAN, totals, NO_RTT);
  assert.deepEqual([r.capacity, r.stoppedBy, r.planDiffers], [1500, "ceiling", null]);
});

test("plan beside measured: agreement is silent, a difference is one sentence saying why", () => {
  const nat = { target: 2000, predicted: 1200, bindingLimit: "nat-pool" as const };
  assert.equal(planVersusMeasured(nat, { capacity: 1000, broken: 1500, stoppedBy: "connect-failures" }), null);
  assert.equal(
    planVersusMeasured(nat, { capacity: 1500, broken: 2000, stoppedBy: "connect-failures" }),
    "The lab held 1,500, beyond the plan's binding limit (nat-pool, 1,200), and broke at 2,000 on connect-failures: the plan's model of nat-pool is too cautious for this host.",
  );
  assert.equal(
    planVersusMeasured(
      { target: 2000, predicted: 2000, bindingLimit: "target" },
      { capacity: 500, broken: 1000, stoppedBy: "memory" },
    ),
    "The lab broke at 1,000 on memory, though the plan's binding limit (target, 2,000) allows it: a limit the plan does not model (the server's, the kernel's or the clients' own) came first.",
  );
});
