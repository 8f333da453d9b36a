import { test } from "node:test";
import assert from "node:assert/strict";
import type { ReconnectPolicy } from "../../shared/protocol.js";
import { backoffMs } from "../../workload/client/backoff.js";
import { performance } from "node:perf_hooks";
import { parseClientArgs } from "../../workload/client/config.js";
import { fakeTransport, runRamp } from "../support/fakeTransport.js";

const FULL: ReconnectPolicy = { baseMs: 250, capMs: 30_000, jitter: "full" };
const NONE: ReconnectPolicy = { baseMs: 250, capMs: 30_000, jitter: "none" };
const BASE_ARGS = ["--targets", "127.0.0.1:9000"];
const attempts = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test("jitter none: 250 ms doubling per retry to the 30 s cap, whatever the random source", () => {
  const expected = [250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
  assert.deepEqual(
    attempts(10).map((a) => backoffMs(a, NONE, () => 0)),
    expected,
  );
  assert.deepEqual(
    attempts(10).map((a) => backoffMs(a, NONE, () => 0.999)),
    expected,
  );
  assert.equal(backoffMs(1000, NONE), 30_000, "a huge attempt count stays at the cap");
});

test("jitter full: the random fraction of min(cap, base * 2^(n-1)), from 0", () => {
  assert.equal(
    backoffMs(1, FULL, () => 0),
    0,
  );
  assert.equal(
    backoffMs(1, FULL, () => 0.5),
    125,
  );
  assert.equal(
    backoffMs(2, FULL, () => 0.5),
    250,
  );
  assert.equal(
    backoffMs(3, FULL, () => 0.25),
    250,
  );
  assert.equal(
    backoffMs(7, FULL, () => 0.75),
    12_000,
  );
  assert.equal(
    backoffMs(8, FULL, () => 0.5),
    15_000,
  );
  assert.equal(
    backoffMs(50, FULL, () => 0.1),
    3000,
  );
  const small: ReconnectPolicy = { baseMs: 100, capMs: 1000, jitter: "full" };
  assert.deepEqual(
    attempts(6).map((a) => backoffMs(a, small, () => 0.5)),
    [50, 100, 200, 400, 500, 500],
  );
});

test("jitter full stays within [0, min(cap, base * 2^(n-1))] for any random fraction", () => {
  // A fixed sequence of fractions in [0, 1) (a linear congruential generator, seed 1).
  let seed = 1;
  const lcg = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const ceilings = [250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000];
  const seen = new Set<number>();
  for (let round = 0; round < 200; round++) {
    for (const [i, ceiling] of ceilings.entries()) {
      const ms = backoffMs(i + 1, FULL, lcg);
      assert.ok(ms >= 0 && ms <= ceiling, `retry ${i + 1}: ${ms} ms outside [0, ${ceiling}]`);
      seen.add(Math.floor((ms / ceiling) * 10));
    }
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    "spread over the whole range",
  );
});

test("client: reconnect settings from flags and env, full jitter 250 ms to 30 s by default", () => {
  const base = [...BASE_ARGS, "--connections", "5"];
  const reconnect = (argv: string[], env: Record<string, string> = {}) => {
    const r = parseClientArgs([...base, ...argv], env);
    assert.ok(!r.help);
    return r.config.reconnect;
  };
  assert.deepEqual(reconnect([]), { baseMs: 250, capMs: 30_000, jitter: "full" });
  assert.deepEqual(reconnect([], { C1M_RECONNECT_BASE_MS: "100", C1M_RECONNECT_CAP_MS: "5000", C1M_RECONNECT_JITTER: "none" }), {
    baseMs: 100,
    capMs: 5000,
    jitter: "none",
  });
  assert.deepEqual(
    reconnect(["--reconnect-base-ms", "50", "--reconnect-jitter", "full"], {
      C1M_RECONNECT_BASE_MS: "100",
      C1M_RECONNECT_JITTER: "none",
    }),
    { baseMs: 50, capMs: 30_000, jitter: "full" },
    "flags win",
  );
});

test("client refuses bad reconnect settings, naming the flag or variable and what is valid", () => {
  const base = [...BASE_ARGS, "--connections", "5"];
  const cases: Array<[string[], Record<string, string>, string]> = [
    [["--reconnect-jitter", "equal"], {}, '--reconnect-jitter: expected full or none, got "equal"'],
    [[], { C1M_RECONNECT_JITTER: "half" }, 'C1M_RECONNECT_JITTER: expected full or none, got "half"'],
    [["--reconnect-base-ms", "0"], {}, "--reconnect-base-ms: 0 is out of range [1, 9007199254740991]"],
    [[], { C1M_RECONNECT_CAP_MS: "soon" }, 'C1M_RECONNECT_CAP_MS: expected a whole number, got "soon"'],
    [
      ["--reconnect-base-ms", "500", "--reconnect-cap-ms", "400"],
      {},
      "--reconnect-cap-ms: expected at least the base (500 ms), got 400",
    ],
    [
      ["--reconnect-base-ms", "60000"],
      {},
      "--reconnect-base-ms (or C1M_RECONNECT_BASE_MS) 60000 is above the default cap 30000: set --reconnect-cap-ms (or C1M_RECONNECT_CAP_MS) to at least 60000",
    ],
  ];
  for (const [argv, env, message] of cases) {
    assert.throws(() => parseClientArgs([...base, ...argv], env), { message }, `${argv.join(" ")} ${JSON.stringify(env)}`);
  }
});

/** One connection whose first `failures` connects are refused; returns when each connect started and how often random() ran. */
async function retried(argv: string[], failures: number, random: () => number): Promise<{ starts: number[]; draws: number }> {
  const parsed = parseClientArgs([...BASE_ARGS, "--connections", "1", "--ping-interval-seconds", "0", "--retry", ...argv], {});
  assert.ok(!parsed.help);
  const starts: number[] = [];
  let draws = 0;
  await runRamp(parsed.config, {
    random: () => (draws++, random()),
    transport: (events) => fakeTransport(events, () => (starts.push(performance.now()) > failures ? "connected" : "refused")),
  });
  return { starts, draws };
}

test("the client draws one random fraction per retry (full) and none without jitter, and waits at least the drawn time", async () => {
  const full = await retried(["--reconnect-base-ms", "20"], 3, () => 0.5);
  assert.equal(full.starts.length, 4);
  assert.equal(full.draws, 3);
  // Retries 1-3 wait 0.5 × 20, 40, 80 ms = 10, 20, 40 ms (later is allowed: a 10 ms pacing tick).
  [10, 20, 40].forEach((ms, i) =>
    assert.ok(full.starts[i + 1]! - full.starts[i]! >= ms - 1, `retry ${i + 1} after ${ms} ms or more`),
  );
  const none = await retried(["--reconnect-base-ms", "20", "--reconnect-jitter", "none"], 2, () => 0.5);
  assert.equal(none.starts.length, 3);
  assert.equal(none.draws, 0);
  [20, 40].forEach((ms, i) =>
    assert.ok(none.starts[i + 1]! - none.starts[i]! >= ms - 1, `retry ${i + 1} after ${ms} ms or more`),
  );
});
