// test.mode find-limit in the stack config: what is refused (naming the key), the connection
// test's flags, and each client container's step share in its environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config/schema.js";
import { connectionTestArgs } from "../../infra/check/args.js";
import { stepEnv } from "../../infra/clients/stepEnv.js";
import { parseVerifyArgs } from "../../workload/verify/args.js";

const FIND = { mode: "find-limit", findLimit: { stepConnections: 3000 } };
const CLIENTS = { containers: 3, connectionsPerContainer: 5000 };

const bad: Array<[string, Record<string, unknown>, string]> = [
  [
    "find-limit without stepConnections",
    { clients: CLIENTS, test: { mode: "find-limit" } },
    "Invalid c1m-lab config:\n✖ required with test.mode: find-limit: the connections each step adds (e.g. 1500, a tenth of the target 15000)\n  → at test.findLimit.stepConnections",
  ],
  [
    "a step smaller than the number of containers",
    { clients: CLIENTS, test: { ...FIND, findLimit: { stepConnections: 2 } } },
    "Invalid c1m-lab config:\n✖ stepConnections 2 must be between clients.containers (3: each container adds at least one) and the target (15000)\n  → at test.findLimit.stepConnections",
  ],
  [
    "find-limit with client hosts",
    {
      clients: { hosts: [{ name: "a", docker: "local" }] },
      test: FIND,
    },
    "Invalid c1m-lab config:\n✖ find-limit steps the clients with a signal through this machine's Docker; clients.hosts is set: remove clients.hosts or use test.mode: hold\n  → at test.mode",
  ],
  [
    "a p99 bound with steps shorter than a ping's answer",
    {
      clients: { ...CLIENTS, ping: { intervalSeconds: 5 } },
      test: { ...FIND, maxRttMs: 50, findLimit: { stepConnections: 3000, stepSeconds: 10 } },
    },
    "Invalid c1m-lab config:\n✖ with test.maxRttMs each step's hold must see its pings answered: clients ping every 5 s, so make stepSeconds at least clients.ping.intervalSeconds + 9 (14), or ping more often\n  → at test.findLimit.stepSeconds",
  ],
  [
    "findLimit in hold mode",
    { test: { findLimit: { stepConnections: 10 } } },
    "Invalid c1m-lab config:\n✖ findLimit is read only with test.mode: find-limit; set the mode or remove it\n  → at test.findLimit",
  ],
  [
    "a failure rate of 1",
    { clients: CLIENTS, test: { ...FIND, findLimit: { stepConnections: 3000, maxFailureRate: 1 } } },
    "Invalid c1m-lab config:\n✖ Too big: expected number to be <1; got 1\n  → at test.findLimit.maxFailureRate",
  ],
];

for (const [name, input, message] of bad) {
  test(`find-limit config: rejects ${name}`, () => {
    assert.throws(
      () => parseLabConfig(input),
      (e: Error) => e instanceof ConfigError && e.message === message,
      message,
    );
  });
}

test("find-limit config: the connection test's flags (defaults filled in), which verify parses back", () => {
  const config = parseLabConfig({ clients: CLIENTS, test: FIND });
  const paths = { reportsDir: "reports" } as Parameters<typeof connectionTestArgs>[2];
  const args = connectionTestArgs(config, "dev", paths, {
    metricsUrl: "http://10.201.0.2:9100",
    clientsLabel: "c1m-lab.stack=dev",
  });
  const at = args.indexOf("--mode");
  assert.deepEqual(args.slice(at, at + 12), [
    "--mode",
    "find-limit",
    "--step-connections",
    "3000",
    "--step-seconds",
    "30",
    "--max-failure-rate",
    "0.001",
    "--min-mem-available-mib",
    "256",
    "--max-worker-cpu",
    "0.9",
  ]);
  const parsed = parseVerifyArgs(args, { C1M_PLAN: JSON.stringify(PLAN) });
  assert.ok(!parsed.help);
  assert.deepEqual(parsed.options.findLimit, {
    stepConnections: 3000,
    stepSeconds: 30,
    maxFailureRate: 0.001,
    minMemAvailableMiB: 256,
    maxWorkerCpu: 0.9,
    maxRttMs: null,
  });
  assert.equal(
    connectionTestArgs(parseLabConfig({}), "dev", paths, { metricsUrl: "http://x:1", clientsLabel: "l" }).includes("--mode"),
    false,
  );
});

test("find-limit config: each container's C1M_STEP_CONNECTIONS is its share of the step; none in hold mode", () => {
  const plan = { containers: [{ connections: 5000 }, { connections: 5000 }, { connections: 5000 }] } as Parameters<
    typeof stepEnv
  >[1];
  const env = stepEnv(parseLabConfig({ clients: CLIENTS, test: { ...FIND, findLimit: { stepConnections: 1000 } } }).test, plan);
  assert.deepEqual([0, 1, 2].map(env), [
    { C1M_STEP_CONNECTIONS: "334" },
    { C1M_STEP_CONNECTIONS: "333" },
    { C1M_STEP_CONNECTIONS: "333" },
  ]);
  assert.deepEqual(stepEnv(parseLabConfig({}).test, plan)(0), {});
});

test("verify: find-limit flags only with --mode find-limit, and find-limit only with this machine's labelled clients", () => {
  const base = ["--metrics-url", "http://10.201.0.2:9100"];
  const env = { C1M_PLAN: JSON.stringify(PLAN) };
  assert.throws(() => parseVerifyArgs([...base, "--step-seconds", "5"], env), /--step-seconds: only with --mode find-limit/);
  assert.throws(
    () => parseVerifyArgs([...base, "--mode", "find-limit", "--step-connections", "10"], env),
    /needs --clients-label and no --client-host/,
  );
  assert.throws(
    () => parseVerifyArgs([...base, "--mode", "find-limit", "--clients-label", "x"], env),
    /--step-connections: required/,
  );
});

const PLAN = {
  strategy: "masquerade",
  target: 15000,
  predicted: 15000,
  ceiling: 15000,
  bindingLimit: "target",
  losses: {},
  serverAddresses: ["10.201.0.2"],
  serverPort: 9000,
  clientSources: [],
  natPool: null,
  containerPortRange: { from: 1024, to: 65535, size: 64512 },
  paths: [],
  containers: [],
  warnings: [],
  explanation: "",
};
