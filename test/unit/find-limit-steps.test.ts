// find-limit's step arithmetic (shared/findLimit.ts) and a stepping client: each container's share
// of a step, each step's total, and a client that opens one share and one more per nextStep().
import { test } from "node:test";
import assert from "node:assert/strict";
import { stepShares, stepTotals } from "../../shared/findLimit.js";
import { parseClientArgs } from "../../workload/client/config.js";
import { ConnectionClient } from "../../workload/client/connectionClient.js";
import type { ClientStatus } from "../../shared/protocol.js";
import { fakeTransport } from "../support/fakeTransport.js";

test("stepShares: in proportion to the containers' connections, summing to the step exactly", () => {
  assert.deepEqual(stepShares([750, 750], 500), [250, 250]);
  assert.deepEqual(stepShares([100, 100, 100], 100), [34, 33, 33]);
  assert.deepEqual(stepShares([300, 100], 100), [75, 25]);
  assert.deepEqual(stepShares([0, 0], 10), [0, 0]);
});

test("stepTotals: every step adds the step until each container holds its connections; the last may be short", () => {
  assert.deepEqual(stepTotals([750, 750], 500), [500, 1000, 1500]);
  assert.deepEqual(stepTotals([700, 700], 500), [500, 1000, 1400]);
  // Shares 34 + 33 + 33: the first container is full after 3 steps, the others after 4.
  assert.deepEqual(stepTotals([100, 100, 100], 100), [100, 200, 298, 300]);
  // A share of 0 (fewer connections per step than containers) could never grow: no steps.
  assert.deepEqual(stepTotals([100, 100, 100], 2), []);
});

test("a stepping client opens its share, one more per nextStep(), never above --connections; its status says its target", async () => {
  const parsed = parseClientArgs(
    ["--targets", "10.0.0.1:9000", "--connections", "25", "--step-connections", "10", "--ping-interval-seconds", "0"],
    {},
  );
  if (parsed.help) throw new Error("unexpected --help");
  let connects = 0;
  let rampDone: () => void = () => {};
  const client = new ConnectionClient(
    parsed.config,
    (_: ClientStatus) => {},
    () => {},
    () => rampDone(),
    { transport: (events) => fakeTransport(events, () => (connects++, "connected")) },
  );
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  await new Promise<void>((resolve) => {
    rampDone = resolve;
    client.start();
  });
  await settle();
  const seen = [[client.established, client.status(false).target]];
  for (let i = 0; i < 3; i++) {
    client.nextStep();
    await settle();
    seen.push([client.established, client.status(false).target]);
  }
  client.finish(0);
  assert.deepEqual(seen, [
    [10, 10],
    [20, 20],
    [25, 25],
    [25, 25],
  ]);
  assert.equal(connects, 25);
});
