// A client config split into processes, and their status lines merged into the container's one.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClientStatus } from "../../shared/protocol.js";
import { parseClientArgs, type ClientConfig } from "../../workload/client/config.js";
import { mergeStatus, splitConfig, startingStatus } from "../../workload/client/split.js";
import { encodeRtt, mergeRtt, newRttHistogram, recordRttMicros, rttPercentiles } from "../../workload/rttHistogram.js";

function config(args: string[]): ClientConfig {
  const p = parseClientArgs(args, {});
  assert.equal(p.help, false);
  return (p as { config: ClientConfig }).config;
}

test("split: connections, step, rate and in-flight spread (the first take the remainder); targets rotated by a third each", () => {
  const c = config([
    "--targets",
    "10.0.0.1:9000,10.0.0.2:9000,10.0.0.3:9000,10.0.0.4:9000,10.0.0.5:9000,10.0.0.6:9000",
    "--connections",
    "1000",
    "--step-connections",
    "100",
    "--connect-rate",
    "5000",
    "--max-in-flight",
    "64",
    "--name",
    "c",
  ]);
  const parts = splitConfig(c, 3);
  assert.deepEqual(
    parts.map((p) => [p.connections, p.stepConnections, p.connectRate, p.maxInFlight, p.name]),
    [
      [334, 34, 1667, 22, "c"],
      [333, 33, 1667, 21, "c"],
      [333, 33, 1666, 21, "c"],
    ],
  );
  assert.deepEqual(
    parts.map((p) => p.targets.map((t) => t.host.split(".")[3]).join(",")),
    ["1,2,3,4,5,6", "3,4,5,6,1,2", "5,6,1,2,3,4"],
  );
});

test("split: without steps none; a rate or window smaller than the parts gives each at least 1; more parts than connections is refused", () => {
  const c = config(["--targets", "10.0.0.1:9000", "--connections", "5", "--connect-rate", "2", "--max-in-flight", "1"]);
  assert.deepEqual(
    splitConfig(c, 4).map((p) => [p.connections, p.stepConnections, p.connectRate, p.maxInFlight]),
    [
      [2, 0, 1, 1],
      [1, 0, 1, 1],
      [1, 0, 1, 1],
      [1, 0, 1, 1],
    ],
  );
  assert.throws(() => splitConfig(c, 6), /6 parts for 5 connections/);
  assert.throws(() => splitConfig(c, 0), /positive integer/);
});

const status = (s: Partial<ClientStatus>): ClientStatus => ({ ...startingStatus("x", 0), ...s });

test("merge: counts and rates summed, the longest elapsed and ramp (none until all ramped), final once all are", () => {
  const a = status({
    target: 334,
    established: 334,
    attempted: 340,
    inFlight: 0,
    rate: 10,
    elapsedSeconds: 5.1,
    rampSeconds: 3.2,
  });
  const b = status({
    target: 333,
    established: 300,
    attempted: 320,
    inFlight: 20,
    rate: 90,
    elapsedSeconds: 5.3,
    rampSeconds: null,
    dropped: 2,
    failed: { timeout: 1, refused: 0, addrnotavail: 0, reset: 3, emfile: 0, other: 0 },
  });
  const m = mergeStatus("c", [a, b]);
  assert.deepEqual(m, {
    type: "status",
    client: "c",
    target: 667,
    established: 634,
    inFlight: 20,
    attempted: 660,
    failed: { timeout: 1, refused: 0, addrnotavail: 0, reset: 3, emfile: 0, other: 0 },
    dropped: 2,
    rate: 100,
    elapsedSeconds: 5.3,
    rampSeconds: null,
    final: false,
  });
  const done = mergeStatus("c", [
    { ...a, final: true },
    { ...b, rampSeconds: 4.5, final: true },
  ]);
  assert.equal(done.rampSeconds, 4.5);
  assert.equal(done.final, true);
  assert.equal(mergeStatus("c", [{ ...a, final: true }, b]).final, false);
});

test("merge: round trips summed into one histogram; reconnect counts only when a part has them", () => {
  const h = (...micros: number[]) => {
    const x = newRttHistogram();
    for (const m of micros) recordRttMicros(x, m);
    return encodeRtt(x);
  };
  const m = mergeStatus("c", [
    status({ rtt: { pings: 3, echoes: 3, histogram: h(100, 200, 300) }, reconnected: 4, reconnecting: 1 }),
    status({ rtt: { pings: 2, echoes: 1, histogram: h(50_000) }, reconnected: 6, reconnecting: 0 }),
  ]);
  assert.equal(m.rtt?.pings, 5);
  assert.equal(m.rtt?.echoes, 4);
  const p = rttPercentiles(mergeRtt([m.rtt!.histogram]).merged);
  assert.equal(p?.count, 4);
  assert.equal(p?.max, 50.015); // 50,000 µs at 3 significant digits: the bucket's highest equivalent value
  assert.deepEqual([m.reconnected, m.reconnecting], [10, 1]);
  assert.equal("reconnected" in mergeStatus("c", [status({}), status({})]), false);
});
