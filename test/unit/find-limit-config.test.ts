// test.mode find-limit in the stack config: what is refused (naming the key), the connection
// test's flags, and each client container's step share in its environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config/schema.js";
import { connectionTestArgs } from "../../infra/check/args.js";
import { stepEnv } from "../../infra/clients/stepEnv.js";
import { clientHostSteps } from "../../infra/clients/hosts/steps.js";
import { labClientHosts } from "../../infra/config/schema.js";
import { planCapacity, REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { TEST_LAB_PATHS } from "../support/labPaths.js";
import { parseVerifyArgs } from "../../workload/verify/args.js";

const FIND = { mode: "find-limit", findLimit: { stepConnections: 3000 } };
const CLIENTS = { containers: 3, connectionsPerContainer: 5000 };
/** A second client host the lab makes here (Pulumi.two-hosts.yaml's b). */
const HOST_B = { name: "b", docker: "ssh://root@10.203.9.2:22", netns: { hostAddress: "10.203.9.1/24" } };

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
    "a step smaller than the containers over all client hosts",
    {
      clients: {
        containers: 2,
        hosts: [
          { name: "a", docker: "local" },
          { ...HOST_B, containers: 3 },
        ],
      },
      test: { ...FIND, findLimit: { stepConnections: 4 } },
    },
    "Invalid c1m-lab config:\n✖ stepConnections 4 must be between the client containers over all clients.hosts (5: each container adds at least one) and the target (25000)\n  → at test.findLimit.stepConnections",
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
  const containers = [0, 1, 2].map((index) => ({ index, connections: 5000 }));
  const env = stepEnv(
    parseLabConfig({ clients: CLIENTS, test: { ...FIND, findLimit: { stepConnections: 1000 } } }).test,
    containers,
  );
  assert.deepEqual([0, 1, 2].map(env), [
    { C1M_STEP_CONNECTIONS: "334" },
    { C1M_STEP_CONNECTIONS: "333" },
    { C1M_STEP_CONNECTIONS: "333" },
  ]);
  assert.deepEqual(stepEnv(parseLabConfig({}).test, containers)(0), {});
});

test("find-limit with client hosts: the step's shares are per container over every host, adding up to the step", () => {
  const config = parseLabConfig({
    clients: {
      containers: 1,
      connectionsPerContainer: 1500,
      hosts: [
        { name: "local", docker: "local" },
        { ...HOST_B, containers: 2, connectionsPerContainer: 750 },
      ],
    },
    test: { ...FIND, findLimit: { stepConnections: 600 } },
  });
  const plan = planCapacity(config, REFERENCE_FACTS);
  const paths = TEST_LAB_PATHS;
  const shares = labClientHosts(config).map((h) =>
    clientHostSteps(config, plan, "dev", paths, h, ["10.201.0.2"]).containers.map((c) => [c.name, c.env.C1M_STEP_CONNECTIONS]),
  );
  assert.deepEqual(shares, [
    [["c1m-dev-local-client-0", "300"]],
    [
      ["c1m-dev-b-client-1", "150"],
      ["c1m-dev-b-client-2", "150"],
    ],
  ]);
});

test("verify: find-limit flags only with --mode find-limit, and find-limit only with labelled clients (on any client host)", () => {
  const base = ["--metrics-url", "http://10.201.0.2:9100"];
  const env = { C1M_PLAN: JSON.stringify(PLAN) };
  assert.throws(() => parseVerifyArgs([...base, "--step-seconds", "5"], env), /--step-seconds: only with --mode find-limit/);
  assert.throws(
    () => parseVerifyArgs([...base, "--mode", "find-limit", "--step-connections", "10"], env),
    /--mode find-limit: needs --clients-label \(it signals the client containers with it\)/,
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
