// The bounded wait loop, driven by a fake clock (no real sleeping) and a scripted poller.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServerStats } from "../../shared/protocol.js";
import type { Observation } from "../../workload/verify/types.js";
import { defaultMinProgress, waitForRamp, type Clock, type Poll } from "../../workload/verify/wait.js";

class FakeClock implements Clock {
  ms = 0;
  sleeps: number[] = [];
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.ms += ms;
  }
}

const stats = (total: number): ServerStats => ({
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
});

/** A poller whose server total is f(seconds since the fake clock started); null = unreachable. */
function scripted(clock: FakeClock, f: (t: number) => number | null, pollMs = 0): Poll & { calls: number } {
  const poll = Object.assign(
    async (): Promise<Omit<Observation, "t">> => {
      poll.calls++;
      const n = f(clock.ms / 1000);
      clock.ms += pollMs; // a poll takes time too
      return {
        server: n === null ? null : stats(n),
        serverError: n === null ? "connect ECONNREFUSED" : null,
        clients: null,
        clientsError: null,
        conntrack: null,
        conntrackError: null,
      };
    },
    { calls: 0 },
  );
  return poll;
}

const base = { target: 1_000, timeoutSeconds: 120, stallSeconds: 10, soakSeconds: 0, intervalSeconds: 2 };

describe("verify wait loop", () => {
  it("stops as soon as the target is reached", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(base, { clock, poll: scripted(clock, (t) => Math.min(1_000, t * 250)) });
    assert.equal(run.stopReason, "target");
    assert.deepEqual(
      run.observations.map((o) => [o.t, o.server?.total]),
      [
        [0, 0],
        [2, 500],
        [4, 1_000],
      ],
    );
    assert.equal(run.soakStartIndex, null);
    assert.equal(clock.ms, 4_000);
  });

  it("stops on a stall: no progress for the stall window", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(base, { clock, poll: scripted(clock, (t) => Math.min(600, t * 150)) });
    assert.equal(run.stopReason, "stall");
    // 600 first seen at t=4; the stall window of 10 s ends at t=14.
    assert.equal(run.observations.at(-1)!.t, 14);
    assert.equal(run.observations.length, 8);
  });

  it("treats a trickle below minProgress as a stall (a NAT pool's last ports)", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(
      { ...base, target: 100_000 },
      { clock, poll: scripted(clock, (t) => (t < 4 ? t * 15_000 : 60_000 + t)) },
    );
    assert.equal(defaultMinProgress(100_000), 100);
    assert.equal(run.stopReason, "stall");
    assert.equal(run.observations.at(-1)!.t, 14);
  });

  it("stops at the timeout while still rising", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(
      { ...base, target: 1e9, timeoutSeconds: 30 },
      { clock, poll: scripted(clock, (t) => t * 1_000_000) },
    );
    assert.equal(run.stopReason, "timeout");
    assert.equal(run.observations.at(-1)!.t, 30);
    assert.equal(run.observations.length, 16);
  });

  it("keeps retrying an unreachable server until the timeout (no stall without data)", async () => {
    const clock = new FakeClock();
    const poll = scripted(clock, () => null);
    const run = await waitForRamp({ ...base, timeoutSeconds: 20, stallSeconds: 4 }, { clock, poll });
    assert.equal(run.stopReason, "timeout");
    assert.equal(poll.calls, 11);
    assert.ok(run.observations.every((o) => o.server === null && o.serverError === "connect ECONNREFUSED"));
  });

  it("soaks after the target, then stops", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp({ ...base, soakSeconds: 6 }, { clock, poll: scripted(clock, (t) => Math.min(1_000, t * 250)) });
    assert.equal(run.stopReason, "target");
    assert.equal(run.soakStartIndex, 2);
    assert.deepEqual(
      run.observations.map((o) => o.t),
      [0, 2, 4, 6, 8, 10],
    );
  });

  it("keeps a steady cadence when polls take time, and never sleeps past the deadline", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(
      { ...base, target: 1e9, timeoutSeconds: 5 },
      { clock, poll: scripted(clock, (t) => t * 10, 500) },
    );
    assert.equal(run.stopReason, "timeout");
    assert.deepEqual(
      run.observations.map((o) => o.t),
      [0.5, 2.5, 4.5, 5.5],
    );
    assert.deepEqual(clock.sleeps, [1_500, 1_500, 500]);
  });

  it("is bounded even when the clock never advances", async () => {
    const frozen: Clock = { now: () => 42, sleep: async () => {} };
    const run = await waitForRamp(
      { ...base, target: 1e9, timeoutSeconds: 10 },
      {
        clock: frozen,
        poll: async () => ({
          server: stats(1),
          serverError: null,
          clients: null,
          clientsError: null,
          conntrack: null,
          conntrackError: null,
        }),
      },
    );
    assert.equal(run.stopReason, "timeout");
    assert.equal(run.observations.length, Math.ceil(10 / 2) + 4);
  });

  it("records a poller that throws as an unreachable server", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(
      { ...base, timeoutSeconds: 2 },
      {
        clock,
        poll: async () => {
          throw new Error("boom");
        },
      },
    );
    assert.equal(run.stopReason, "timeout");
    assert.equal(run.observations[0]!.server, null);
    assert.match(run.observations[0]!.serverError!, /boom/);
  });

  it("after the target, polls until the views settle (the clients' status lags)", async () => {
    const clock = new FakeClock();
    const settledAt: number[] = [];
    const run = await waitForRamp(
      { ...base, settleSeconds: 6 },
      {
        clock,
        poll: scripted(clock, (t) => Math.min(1_000, t * 500)),
        settled: (o) => {
          settledAt.push(o.t);
          return o.t >= 6;
        },
      },
    );
    assert.equal(run.stopReason, "target");
    assert.deepEqual(
      run.observations.map((o) => o.t),
      [0, 2, 4, 6],
    );
    assert.deepEqual(settledAt, [2, 4, 6], "asked only once the target was reached");
  });

  it("stops settling after settleSeconds even if the views never agree", async () => {
    const clock = new FakeClock();
    const run = await waitForRamp(
      { ...base, settleSeconds: 3 },
      { clock, poll: scripted(clock, (t) => Math.min(1_000, t * 500)), settled: () => false },
    );
    assert.equal(run.stopReason, "target");
    assert.deepEqual(
      run.observations.map((o) => o.t),
      [0, 2, 4, 5],
    );
  });

  it("reports every observation with its phase", async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    await waitForRamp(
      { ...base, soakSeconds: 2 },
      {
        clock,
        poll: scripted(clock, (t) => Math.min(1_000, t * 500)),
        onObservation: (o, phase) => seen.push(`${o.t}:${phase}`),
      },
    );
    assert.deepEqual(seen, ["0:ramp", "2:ramp", "4:soak"]);
  });
});
