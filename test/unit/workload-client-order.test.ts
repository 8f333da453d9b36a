// The client's connect order (--target-order) and source cycling, through its real pacing logic
// over a transport that records each connect and completes it a microtask later. Order seen at
// servers is not a reliable witness: under CPU load loopback handshakes of consecutive connects
// finish on different CPUs' backlogs and can be accepted out of order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseClientArgs } from "../../workload/client/config.js";
import { fakeTransport, runRamp } from "../support/fakeTransport.js";

async function connects(args: string[]): Promise<Array<[number, number]>> {
  const parsed = parseClientArgs(args, {});
  if (parsed.help) throw new Error("unexpected --help");
  const seen: Array<[number, number]> = [];
  await runRamp(parsed.config, {
    transport: (events) =>
      fakeTransport(events, (target, source) => {
        seen.push([target, source]);
        return "connected";
      }),
  });
  return seen;
}

const TARGETS = ["--targets", "10.0.0.1:9000,10.0.0.2:9000,10.0.0.3:9000", "--ping-interval-seconds", "0"];

test("blocks: each target's share in turn, shares differ by one at most; sources cycle per connect", async () => {
  const seen = await connects([
    ...TARGETS,
    "--connections",
    "7",
    "--target-order",
    "blocks",
    "--source-addresses",
    "10.1.0.1,10.1.0.2",
  ]);
  assert.deepEqual(
    seen.map(([t]) => t),
    [0, 0, 0, 1, 1, 2, 2],
  );
  assert.deepEqual(
    seen.map(([, s]) => s),
    [0, 1, 0, 1, 0, 1, 0],
  );
});

test("interleaved: targets cycle fastest, the source advances once per round", async () => {
  const seen = await connects([...TARGETS, "--connections", "7", "--source-addresses", "10.1.0.1,10.1.0.2"]);
  assert.deepEqual(seen, [
    [0, 0],
    [1, 0],
    [2, 0],
    [0, 1],
    [1, 1],
    [2, 1],
    [0, 0],
  ]);
});
