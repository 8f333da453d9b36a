// The capacity plan, table-driven: the article's numbers and every limit class.
import { formatPlan } from "../../infra/plan/table.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { ARTICLE_FACTS as ARTICLE, planCapacity, PlanError, REFERENCE_FACTS, type HostFacts } from "../../infra/plan/capacity.js";
import { parseLabConfig, type LabConfigInput } from "../../infra/config/schema.js";

const threeServerIps = { provider: "netns", secondaryAddresses: { count: 2 } } as const;
const plan = (input: LabConfigInput, facts: HostFacts = ARTICLE) =>
  planCapacity(parseLabConfig(input as Record<string, unknown>), facts);

const cases: {
  name: string;
  input: LabConfigInput;
  facts?: HostFacts;
  predicted: number;
  ceiling: number;
  binding: string;
  perPath?: number[];
}[] = [
  {
    name: "the article's wall: 1 host IP × 1 server IP, 3 containers × 25,000 → 64,512",
    input: { clients: { containers: 3, connectionsPerContainer: 25_000 }, test: { expect: "plateau" } },
    predicted: 64_512,
    ceiling: 64_512,
    binding: "nat-pool",
    perPath: [64_512],
  },
  {
    name: "the article's fix: 3 server IPs, container i → address i, 3 × 25,000 → 75,000",
    input: { server: threeServerIps, clients: { containers: 3, connectionsPerContainer: 25_000, assignment: "per-container" } },
    predicted: 75_000,
    ceiling: 3 * 64_512,
    binding: "target",
    perPath: [25_000, 25_000, 25_000],
  },
  {
    name: "same host, no NAT: 3 × 25,000 fit in Docker's default 28,232 ports each",
    input: {
      clients: {
        containers: 3,
        connectionsPerContainer: 25_000,
        localPortRange: "docker-default",
        sourceIps: { strategy: "routed" },
      },
    },
    predicted: 75_000,
    ceiling: 3 * 28_232,
    binding: "target",
  },
  {
    name: "without the sysctl a container is capped at 28,232 per server IP:port",
    input: {
      clients: {
        containers: 3,
        connectionsPerContainer: 30_000,
        localPortRange: "docker-default",
        sourceIps: { strategy: "routed" },
      },
      test: { expect: "plateau" },
    },
    predicted: 3 * 28_232,
    ceiling: 3 * 28_232,
    binding: "container-port-range",
  },
  {
    name: "host IPs: 1 server IP × 3 client IPs, 3 × 50,000 all connect",
    input: {
      clients: {
        containers: 3,
        connectionsPerContainer: 50_000,
        subnet: "172.30.200.0/22",
        sourceIps: { strategy: "host-ips", addresses: ["10.201.0.11/24", "10.201.0.12/24", "10.201.0.13/24"] },
      },
    },
    predicted: 150_000,
    ceiling: 3 * 64_512,
    binding: "target",
    perPath: [50_000, 50_000, 50_000],
  },
  {
    name: "a narrowed NAT pool shows the wall with 3,000 connections",
    input: {
      clients: { containers: 2, connectionsPerContainer: 1_500, natPortRange: "40000-40999" },
      test: { expect: "plateau" },
    },
    facts: REFERENCE_FACTS,
    predicted: 1_000,
    ceiling: 1_000,
    binding: "nat-pool",
  },
  {
    name: "conntrack left small caps the NAT host",
    input: {
      tuning: { raiseHostLimits: false },
      clients: { containers: 3, connectionsPerContainer: 10_000 },
      server: threeServerIps,
      test: { expect: "plateau" },
    },
    facts: { ...REFERENCE_FACTS, conntrackMax: 20_000 },
    predicted: 20_000,
    ceiling: 20_000,
    binding: "conntrack",
  },
];

for (const c of cases) {
  test(c.name, () => {
    const p = plan(c.input, c.facts);
    assert.equal(p.predicted, c.predicted, "predicted");
    assert.equal(p.ceiling, c.ceiling, "ceiling");
    assert.equal(p.bindingLimit, c.binding, "binding limit");
    if (c.perPath)
      assert.deepEqual(
        p.paths.map((x) => x.expected),
        c.perPath,
      );
  });
}

test("the article's wall with expect: all is rejected with the numbers and the fixes", () => {
  assert.throws(
    () => plan({ clients: { containers: 3, connectionsPerContainer: 25_000 } }),
    (e: Error) =>
      e instanceof PlanError &&
      e.message ===
        "the target of 75,000 connections is above what this lab can hold: Predicted 64,512 of 75,000: the NAT source-port pool " +
          "1024–65535 (64,512 ports) is exhausted on 1 of 1 (client IP, server IP, port) paths (1 client IP × 1 server IP:9000); " +
          "add server IPs (server.secondaryAddresses) or client source IPs (clients.sourceIps). Or set test.expect: plateau to demonstrate the wall, or test.mode: find-limit to measure it.",
  );
});

test("find-limit: a target above the prediction is the ceiling of the search, not an error; the plan still names the wall", () => {
  const p = plan({
    clients: { containers: 3, connectionsPerContainer: 25_000 },
    test: { mode: "find-limit", findLimit: { stepConnections: 10_000 } },
  });
  assert.equal(p.target, 75_000);
  assert.equal(p.predicted, 64_512);
  assert.equal(p.bindingLimit, "nat-pool");
});

test("a container above one process's nofile runs several; above 64 of them it is refused with how many containers are needed", () => {
  const p = plan({ server: threeServerIps, clients: { containers: 3, connectionsPerContainer: 25_000 } }, REFERENCE_FACTS);
  assert.deepEqual(
    p.containers.map((c) => [c.connections, c.processes]),
    [
      [25_000, 2],
      [25_000, 2],
      [25_000, 2],
    ],
  );
  assert.equal(p.needs.clientProcesses, 4, "75,000 / 19,900 per process");
  assert.throws(
    () =>
      plan(
        { server: threeServerIps, clients: { containers: 2, connectionsPerContainer: 700_000 } },
        { ...REFERENCE_FACTS, fdHardLimit: 10_100, dockerNofile: null },
      ),
    /connectionsPerContainer 700,000 is more than one container can hold: 64 client processes × \(nofile 10,100 − 100 reserved\) = 640,000\. Use clients\.containers ≥ 3/,
  );
});

test("too few fixed server workers is refused; auto sizes them from the fd limit", () => {
  const input = {
    server: { ...threeServerIps, workers: 2 },
    clients: { containers: 3, connectionsPerContainer: 15_000 },
  } as const;
  assert.throws(
    () => plan(input, REFERENCE_FACTS),
    /server\.workers 2 cannot hold 45,000 connections: each worker holds at most 19,900.*≥ 3/,
  );
  assert.equal(plan({ ...input, server: threeServerIps }, REFERENCE_FACTS).serverWorkers, 3);
});

test("a NAT path filled above 90% is warned about", () => {
  const p = plan({ clients: { containers: 1, connectionsPerContainer: 950, natPortRange: "40000-40999" } }, REFERENCE_FACTS);
  assert.equal(p.predicted, 950);
  assert.equal(p.warnings.length, 1);
  assert.match(p.warnings[0]!, /fills 95% of the NAT pool \(950 of 1,000\).*keep it ≤ 90%/);
  assert.deepEqual(
    plan({ clients: { containers: 1, connectionsPerContainer: 900, natPortRange: "40000-40999" } }, REFERENCE_FACTS).warnings,
    [],
  );
});

test("one million on these machines: what it needs", () => {
  const p = plan(
    {
      server: { provider: "netns", secondaryAddresses: { count: 17 } },
      clients: { containers: 51, connectionsPerContainer: 19_608 },
    },
    REFERENCE_FACTS,
  );
  assert.equal(p.target, 1_000_008);
  assert.equal(p.predicted, p.target);
  assert.equal(p.needs.serverIps, 18, "≤ 90% of 64,512 per path → 18 server IPs");
  assert.equal(p.needs.clientProcesses, 51);
  assert.deepEqual([...new Set(p.containers.map((c) => c.processes))], [1], "19,608 per container: one process each");
  // One listener group per server address, 3 workers each (55,556 per address; 19,900 per worker).
  assert.equal(p.serverListenGroups, 18);
  assert.equal(p.serverWorkers, 54);
  assert.ok(p.needs.conntrackEntries > p.target, "conntrack raised above the target");
  // Measured figures: kernel 10.46 KB + server 2.1 KB + client 2.7 KB per connection, 45 MiB per Node process.
  assert.equal(p.needs.memoryBytes, p.target * 15_260 + (54 + 51 + 1) * 45 * 2 ** 20);
});

test("the plan's table: client containers with their processes, and the processes the fd limit needs", () => {
  const rows = (connectionsPerContainer: number) =>
    formatPlan("st", plan({ server: threeServerIps, clients: { containers: 3, connectionsPerContainer } }, REFERENCE_FACTS))
      .split("\n")
      .map((l) => l.trim().split(/ {2,}/).join("|"));
  const several = rows(25_000);
  assert.ok(several.includes("client containers|3 × 2 processes"), several.join("\n"));
  assert.ok(several.includes("client processes (fd limit)|4"), several.join("\n"));
  const one = rows(5_000);
  assert.ok(one.includes("client containers|3"), one.join("\n"));
  assert.ok(one.includes("client processes (fd limit)|1"), one.join("\n"));
  assert.ok(several.includes("TCP hash per container (buckets)|32,768"), several.join("\n"));
  assert.ok(one.includes("TCP hash per container (buckets)|host's"), one.join("\n"));
});
