import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../../workload/cliArgs.js";
import { CLIENT_DEFAULTS, parseClientArgs, type ClientConfig } from "../../workload/client/config.js";
import {
  capacityProblem,
  groupAddresses,
  groupWorkers,
  parseServerArgs,
  type ServerConfig,
} from "../../workload/server/config.js";
import { workerConfigOf } from "../../workload/server/ipc.js";

function server(argv: string[]): ServerConfig {
  const r = parseServerArgs(argv);
  assert.equal(r.help, false);
  return (r as { config: ServerConfig }).config;
}

function client(argv: string[], env: Record<string, string> = {}): ClientConfig {
  const r = parseClientArgs(argv, env);
  assert.equal(r.help, false);
  return (r as { config: ClientConfig }).config;
}

test("server defaults: all addresses, one worker, backlog 4096, metrics on 0.0.0.0:9100", () => {
  assert.deepEqual(server([]), {
    port: 9000,
    addresses: ["0.0.0.0"],
    workers: 1,
    listenGroups: 1,
    metricsPort: 9100,
    metricsAddress: "0.0.0.0",
    backlog: 4096,
  });
  assert.deepEqual(parseServerArgs(["--help"]), { help: true });
});

test("server flags; metrics default to the first listen address", () => {
  const c = server([
    "--port",
    "9001",
    "--addresses",
    "10.0.0.2, 10.0.0.3",
    "--workers",
    "4",
    "--backlog",
    "65535",
    "--expect-connections",
    "1000000",
  ]);
  assert.equal(c.port, 9001);
  assert.deepEqual(c.addresses, ["10.0.0.2", "10.0.0.3"]);
  assert.equal(c.metricsAddress, "10.0.0.2");
  assert.equal(c.workers, 4);
  assert.equal(c.backlog, 65535);
  assert.equal(c.expectConnections, 1_000_000);
  assert.equal(server(["--addresses", "10.0.0.2", "--metrics-address", "127.0.0.1"]).metricsAddress, "127.0.0.1");
});

test("server rejects bad input", () => {
  for (const argv of [
    ["--backlog", "511"],
    ["--addresses", "example.com"],
    ["--addresses", "10.0.0.2,10.0.0.2"],
    ["--workers", "0"],
    ["--port", "70000"],
    ["--port", "-1"],
    ["--metrics-address", "10.0.0.2,10.0.0.3"],
    ["--expect-connections", "many"],
    ["--what"],
    ["positional"],
  ]) {
    assert.throws(() => parseServerArgs(argv), UsageError, argv.join(" "));
  }
});

test("capacity: expected connections per worker must fit one worker's fds", () => {
  const c = server(["--expect-connections", "100000", "--workers", "5"]);
  // 20,000 each: fits a 20,000 capacity exactly, one more does not.
  assert.equal(capacityProblem(c, 20_000, 20_100), undefined);
  assert.match(capacityProblem(c, 19_900, 20_000)!, /20000 per worker, but one worker can hold 19900 .*--workers 6 or more/);
  const msg = capacityProblem(server(["--expect-connections", "1000000", "--workers", "2"]), 19_900, 20_000);
  assert.match(msg!, /500000 per worker/);
  assert.match(msg!, /--workers 51 or more/);
  assert.equal(capacityProblem(server([]), 10, 110), undefined, "no expectation, no check");
});

test("server listen groups: address i served by workers w ≡ i (mod groups), checked per group", () => {
  const addrs = Array.from({ length: 18 }, (_, i) => `10.201.6.${i + 2}`).join(",");
  const c = server(["--addresses", addrs, "--workers", "54", "--listen-groups", "18", "--expect-connections", "1000008"]);
  assert.equal(c.listenGroups, 18);
  assert.deepEqual(groupAddresses(c, 0), ["10.201.6.2"]);
  assert.deepEqual(workerConfigOf(c, 17).addresses, ["10.201.6.19"]);
  assert.equal(groupWorkers(c, 0), 3);
  // 1,000,008 / 18 = 55,556 per address; 3 workers × 19,900 hold it.
  assert.equal(capacityProblem(c, 19_900, 20_000), undefined);
  const tight = server(["--addresses", addrs, "--workers", "51", "--listen-groups", "18", "--expect-connections", "1000008"]);
  assert.equal(groupWorkers(tight, 17), 2);
  assert.match(
    capacityProblem(tight, 19_900, 20_000)!,
    /group 15 \(1 address\(es\), 2 worker\(s\)\) would hold 55556 connections/,
  );
  const two = server(["--addresses", "10.0.0.2,10.0.0.3,10.0.0.4", "--workers", "4", "--listen-groups", "2"]);
  assert.deepEqual(groupAddresses(two, 0), ["10.0.0.2", "10.0.0.4"]);
  assert.deepEqual(groupAddresses(two, 1), ["10.0.0.3"]);
  assert.deepEqual(workerConfigOf(two).addresses, ["10.0.0.2", "10.0.0.4"]);
  for (const argv of [
    ["--listen-groups", "2"],
    ["--addresses", "10.0.0.2,10.0.0.3", "--workers", "1", "--listen-groups", "2"],
    ["--addresses", "10.0.0.2,10.0.0.3", "--workers", "4", "--listen-groups", "3"],
  ]) {
    assert.throws(() => parseServerArgs(argv), UsageError, argv.join(" "));
  }
});

test("client: flags, env fallback, flag wins, defaults", () => {
  const env = {
    C1M_TARGETS: "10.0.0.2:9000,[fd00::3]:9001",
    C1M_CONNECTIONS: "1000",
    C1M_CONNECT_RATE: "200",
    C1M_RETRY: "1",
    C1M_SOURCE_ADDRESSES: "10.1.0.1,10.1.0.2",
    C1M_CLIENT_NAME: "c-env",
    C1M_HOLD_SECONDS: "30",
  };
  const c = client(["--connect-rate", "300", "--name", "c-flag"], env);
  assert.deepEqual(c.targets, [
    { host: "10.0.0.2", port: 9000 },
    { host: "fd00::3", port: 9001 },
  ]);
  assert.equal(c.connections, 1000);
  assert.equal(c.connectRate, 300, "flag wins");
  assert.equal(c.name, "c-flag");
  assert.equal(c.retry, true);
  assert.deepEqual(c.sourceAddresses, ["10.1.0.1", "10.1.0.2"]);
  assert.equal(c.holdSeconds, 30);
  assert.equal(c.maxInFlight, CLIENT_DEFAULTS.maxInFlight);
  assert.equal(c.connectTimeoutMs, 10_000);
  assert.equal(c.pingPayload, "ping");
  assert.equal(c.pingIntervalSeconds, 100);
  assert.equal(c.statusIntervalMs, 1000);

  const d = client(["--targets", "127.0.0.1:1", "--connections", "5"]);
  assert.equal(d.targetOrder, "interleaved");
  assert.equal(client(["--targets", "127.0.0.1:1", "--connections", "5"], { C1M_TARGET_ORDER: "blocks" }).targetOrder, "blocks");
  assert.equal(d.connectRate, 5000);
  assert.equal(d.retry, false);
  assert.equal(d.holdSeconds, 0);
  assert.ok(d.name.length > 0, "defaults to the hostname");
  assert.equal(client(["--targets", "127.0.0.1:1", "--connections", "5", "--retry"], { C1M_RETRY: "0" }).retry, true);
  assert.equal(
    client(["--targets", "127.0.0.1:1", "--connections", "5", "--ping-interval-seconds", "0.5"]).pingIntervalSeconds,
    0.5,
  );
  assert.deepEqual(parseClientArgs(["--help"], {}), { help: true });
});

test("client rejects bad input, naming the flag or variable", () => {
  const base = ["--targets", "127.0.0.1:9000", "--connections", "5"];
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [["--connections", "5"], {}, /--targets/],
    [[...base, "--target-order", "random"], {}, /--target-order: expected interleaved or blocks, got "random"/],
    [base, { C1M_TARGET_ORDER: "zigzag" }, /C1M_TARGET_ORDER: expected interleaved or blocks/],
    [["--targets", "127.0.0.1:9000"], {}, /--connections/],
    [["--targets", "host:9000", "--connections", "5"], {}, /not IP:PORT/],
    [["--targets", "127.0.0.1:0", "--connections", "5"], {}, /out of range/],
    [["--targets", "127.0.0.1", "--connections", "5"], {}, /not IP:PORT/],
    [[], { C1M_TARGETS: "127.0.0.1:9000", C1M_CONNECTIONS: "lots" }, /C1M_CONNECTIONS/],
    [base, { C1M_RETRY: "maybe" }, /C1M_RETRY/],
    [[...base, "--connect-rate", "0"], {}, /--connect-rate/],
    [[...base, "--hold-seconds", "-1"], {}, /--hold-seconds/],
    [[...base, "--source-addresses", "nope"], {}, /--source-addresses/],
    [[...base, "--status-interval-ms", "1"], {}, /--status-interval-ms/],
  ];
  for (const [argv, env, pattern] of cases) {
    assert.throws(
      () => parseClientArgs(argv, env),
      (err: Error) => err instanceof UsageError && pattern.test(err.message),
      `${argv.join(" ")} ${JSON.stringify(env)}`,
    );
  }
});
