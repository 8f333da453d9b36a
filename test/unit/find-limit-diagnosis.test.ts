// find-limit's diagnosis of the step that broke: a capped fake lab stepped 500 → 1,000 → 1,500 by
// steppedRun, judged by diagnose() and turned into find-limit's sentence by judged(). It names
// what broke at which step with the plan beside the measured capacity, and none of the hold's
// sentences (a refusal is not "nothing listens there" when the workers are full).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ClientStatus, ServerStats } from "../../shared/protocol.js";
import { FAILURE_CLASSES } from "../../shared/protocol.js";
import { diagnose } from "../../workload/verify/diagnose.js";
import { judged, steppedRun } from "../../workload/verify/findLimit/stepped.js";
import type { FindLimitSettings } from "../../workload/verify/findLimit/settings.js";
import { stepCauseSentence } from "../../workload/verify/findLimit/stepCause.js";
import type { Diagnosis } from "../../workload/verify/summary.js";
import type { Observation, VerifyPlan } from "../../workload/verify/types.js";
import type { Clock } from "../../workload/verify/wait.js";
import { runningClient } from "../support/observations.js";
import { loadFixture } from "./verify-fixtures.js";

const SETTINGS: FindLimitSettings = {
  stepConnections: 500,
  stepSeconds: 4,
  maxFailureRate: 0.01,
  minMemAvailableMiB: null,
  maxWorkerCpu: null,
  maxRttMs: null,
};

/** One server IP (10.201.0.2:9000), one client source IP, one container of 1,500. */
function plan(over: Partial<VerifyPlan> = {}): VerifyPlan {
  const base = loadFixture("server-fd-limit").plan;
  const path = { ...base.paths[0]!, load: 1500, expected: 1500 };
  const container = { ...base.containers[0]!, connections: 1500, expected: 1500 };
  return { ...base, target: 1500, predicted: 1500, paths: [path], containers: [container], ...over };
}

type Failed = Partial<ClientStatus["failed"]>;

function server(held: number, capacity: number | null): ServerStats {
  const w = { pid: 7, total: held, accepted: held, closed: 0, acceptErrors: 0, paused: false, pauses: 0 };
  return {
    total: held,
    accepted: held,
    closed: 0,
    acceptRate: 0,
    workers: 1,
    uptimeSeconds: 1,
    perLocalAddress: { "10.201.0.2:9000": held },
    perRemoteIp: { "10.201.0.1": held },
    samples: {},
    sharedSourcePorts: {},
    perWorker: [w],
    acceptErrors: 0,
    ...(capacity === null ? {} : { capacityPerWorker: capacity, workersAtCapacity: held >= capacity ? 1 : 0 }),
  };
}

/**
 * A lab whose server holds at most `cap`; the client's target rises by 500 per nextStep, and the
 * connects past the cap fail as `failedAs` says (of n failures).
 */
function cappedLab(cap: number, capacity: number | null, failedAs: (n: number) => Failed) {
  let target = 500;
  let now = 0;
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
  const poll = async (): Promise<Omit<Observation, "t">> => {
    const held = Math.min(target, cap);
    const failed = { ...Object.fromEntries(FAILURE_CLASSES.map((k) => [k, 0])), ...failedAs(target - held) };
    const status: ClientStatus = {
      type: "status",
      client: "c1m-client-0",
      target,
      established: held,
      inFlight: 0,
      attempted: target,
      failed: failed as ClientStatus["failed"],
      dropped: 0,
      rate: 0,
      elapsedSeconds: 1,
      rampSeconds: null,
      final: false,
    };
    return {
      server: server(held, capacity),
      serverError: null,
      clients: [runningClient("c1m-client-0", { status })],
      clientsError: null,
      conntrack: null,
      conntrackError: null,
    };
  };
  const nextStep = async () => ((target += 500), null);
  return { clock, poll, nextStep };
}

async function stepAndJudge(p: VerifyPlan, lab: ReturnType<typeof cappedLab>): Promise<Diagnosis> {
  const stepped = await steppedRun(
    { plan: p, settings: SETTINGS, timeoutSeconds: 30, stallSeconds: 4, intervalSeconds: 2 },
    { ...lab, progress: () => {}, onObservation: () => {} },
  );
  const d = diagnose(stepped.plan, stepped.run, { expect: "all", metricsUrl: "http://10.201.0.2:9100/stats" });
  return judged(d, stepped);
}

test("find-limit: a step broken by full server workers names them, not a missing listener", async () => {
  const lab = cappedLab(1200, 1200, (n) => ({ refused: n - Math.min(n, 50), reset: Math.min(n, 50) }));
  const d = await stepAndJudge(plan(), lab);
  assert.equal(d.verdict, "pass");
  assert.equal(d.limit, "server-fd-limit");
  assert.equal(
    d.diagnosis,
    "Capacity 1,000 connections; step 3 (1,500) broke connect-failures: 300 of the step's 500 connects failed (refused 250, reset 50), " +
      "above test.findLimit.maxFailureRate 1.0%. " +
      "The lab broke at 1,500 on connect-failures, though the plan's binding limit (target, 1,500) allows it: a limit the plan does not model " +
      "(the server's, the kernel's or the clients' own) came first. " +
      "At step 3 (1,500) the server's workers were full (1 of 1 worker at the capacity of 1,200 connections each, no longer accepting) " +
      "and the server held 1,200; measured capacity 1,000 beside the plan's binding limit target (1,500).",
  );
});

test("find-limit: a step broken by the NAT's port pool names the pool at that step, the plan's nat-pool limit beside the capacity", async () => {
  const nat = { from: 1024, to: 2047, size: 1024 };
  const p = plan({ natPool: nat, predicted: 1024, bindingLimit: "nat-pool" });
  p.paths = [{ ...p.paths[0]!, capacity: 1024, expected: 1024 }];
  const d = await stepAndJudge(
    p,
    cappedLab(1024, null, (n) => ({ timeout: n })),
  );
  assert.equal(d.limit, "nat-pool");
  assert.equal(
    d.diagnosis,
    "Capacity 1,000 connections; step 3 (1,500) broke connect-failures: 476 of the step's 500 connects failed (timeout 476), " +
      "above test.findLimit.maxFailureRate 1.0%. " +
      "At step 3 (1,500) the NAT source-port pool 1024–2047 (1,024 ports per client source IP and server IP) ran out " +
      "and the server held 1,024; measured capacity 1,000 beside the plan's binding limit nat-pool (1,024).",
  );
});

test("find-limit: refusals with the server's workers not full are refusals, without the hold's advice", async () => {
  const d = await stepAndJudge(
    plan(),
    cappedLab(1200, null, (n) => ({ refused: n })),
  );
  assert.equal(d.limit, "server-refused");
  assert.ok(!d.diagnosis.includes("nothing listens"), d.diagnosis);
  assert.ok(
    d.diagnosis.endsWith(
      "At step 3 (1,500) the server refused 300 connects (RST) and the server held 1,200; measured capacity 1,000 beside the plan's binding limit target (1,500).",
    ),
    d.diagnosis,
  );
});

test("stepCauseSentence: a step whose connections held (broken on another criterion) gets the plan beside the capacity only", () => {
  const d = { verdict: "pass", limit: "none" } as Diagnosis;
  const r = {
    capacity: 1000,
    breaks: [{ criterion: "memory", reason: "…" }],
    curve: [{ step: 3, target: 1500, held: 1500 }],
    plan: { target: 1500, predicted: 1500, bindingLimit: "target" },
  } as Parameters<typeof stepCauseSentence>[1];
  assert.equal(stepCauseSentence(d, r, null, plan()), "Measured capacity 1,000 beside the plan's binding limit target (1,500).");
  assert.equal(stepCauseSentence(d, { ...r, breaks: [] }, null, plan()), null);
});
