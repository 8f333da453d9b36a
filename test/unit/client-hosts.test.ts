// clients.hosts: the ssh URL, the checks across hosts, the resolved list, and the plan per host.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLabConfig, labClientHosts, type LabConfigInput } from "../../infra/config/schema.js";
import { parseSshUrl } from "../../infra/config/clientHosts.js";
import { planCapacity, REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { formatPlan } from "../../infra/plan/table.js";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEhmGd0Dexw+c4HLG1i9x6ki9zR/DqFd4tmSo3knVrL";
const parse = (input: LabConfigInput) => parseLabConfig(input as Record<string, unknown>);
const rejects = (input: LabConfigInput, message: string) =>
  assert.throws(
    () => parse(input),
    (e: Error) => {
      assert.equal(e.message, `Invalid c1m-lab config:\n${message}`);
      return true;
    },
  );

test("parseSshUrl: user, host and port; port 22 by default; anything else is null", () => {
  assert.deepEqual(parseSshUrl("ssh://c1m@10.0.0.7:2222"), { user: "c1m", host: "10.0.0.7", port: 2222 });
  assert.deepEqual(parseSshUrl("ssh://root@rack2.example"), { user: "root", host: "rack2.example", port: 22 });
  for (const bad of [
    "ssh://10.0.0.7",
    "ssh://c1m@10.0.0.7:0",
    "ssh://c1m@10.0.0.7:65536",
    "ssh://c1m@host;rm -rf /",
    "ssh://c1m@host:22/path",
    "ssh://C1M@host",
    "tcp://10.0.0.7:2375",
    "ssh://c1m@-host",
  ]) {
    assert.equal(parseSshUrl(bad), null, bad);
  }
});

test("without clients.hosts: one implicit local host with the clients settings, and a plan without host fields", () => {
  const c = parse({
    clients: { containers: 2, connectionsPerContainer: 1500, natPortRange: "40000-40999" },
    test: { expect: "plateau" },
  });
  const hosts = labClientHosts(c);
  assert.equal(hosts.length, 1);
  assert.deepEqual(
    { name: hosts[0]!.name, docker: hosts[0]!.docker, implicit: hosts[0]!.implicit, containers: hosts[0]!.containers },
    { name: "local", docker: { kind: "local" }, implicit: true, containers: 2 },
  );
  const p = planCapacity(c, REFERENCE_FACTS);
  assert.equal(p.hosts, undefined);
  assert.equal(p.bindingHost, undefined);
  assert.equal("host" in p.containers[0]!, false);
  assert.equal("host" in p.paths[0]!, false);
  assert.equal(p.predicted, 1000);
});

test("clients.hosts: each host takes the clients defaults unless it sets its own", () => {
  const c = parse({
    clients: {
      containers: 2,
      connectionsPerContainer: 700,
      hosts: [
        { name: "a", docker: "local" },
        {
          name: "far",
          docker: "ssh://c1m@192.0.2.10:2200",
          hostKey: HOST_KEY,
          sshAgent: true,
          containers: 5,
          natPortRange: "40000-40999",
        },
      ],
    },
  });
  const [a, far] = labClientHosts(c, "st");
  assert.deepEqual(
    [a!.name, a!.docker, a!.containers, a!.connectionsPerContainer, a!.natPortRange, a!.implicit],
    ["a", { kind: "local" }, 2, 700, undefined, false],
  );
  assert.deepEqual(
    [far!.name, far!.docker, far!.containers, far!.connectionsPerContainer, far!.natPortRange, far!.hostKey, far!.sshAgent],
    [
      "far",
      { kind: "ssh", user: "c1m", host: "192.0.2.10", port: 2200 },
      5,
      700,
      { from: 40000, to: 40999, size: 1000 },
      HOST_KEY,
      true,
    ],
  );
});

test("a host the lab makes (netns): its namespace, links and addresses come from the stack and its name", () => {
  const c = parse({
    clients: { hosts: [{ name: "b", docker: "ssh://root@10.203.9.2:22", netns: { hostAddress: "10.203.9.1/24" } }] },
  });
  assert.deepEqual(labClientHosts(c, "two-hosts")[0]!.netns, {
    namespace: "c1m-two-hosts-b",
    hostInterface: "c1m-b-h",
    hostAddress: "10.203.9.1/24",
    interface: "c1m-b-c",
    address: "10.203.9.2/24",
  });
});

test("bad clients.hosts entries are refused with the path, the value and what would be valid", () => {
  rejects(
    { clients: { hosts: [{ name: "B;x", docker: "local" }] } },
    '✖ clients.hosts[0].name: "B;x" a client host name: a lowercase letter, then up to 7 lowercase letters or digits (like b or rack2)',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "tcp://10.0.0.2:2375" }] } },
    '✖ clients.hosts[0].docker: "tcp://10.0.0.2:2375" docker must be "local" (this machine\'s Docker) or ssh://user@host[:port] (user a Unix user name, host a name or IPv4 address, port 1-65535); got "tcp://10.0.0.2:2375"',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "ssh://c1m@192.0.2.10" }] } },
    '✖ clients.hosts[0].docker: "ssh://c1m@192.0.2.10" needs hostKey beside it (ssh then talks to that host and no other): the key `ssh-keyscan -t ed25519 192.0.2.10` prints after the host name',
  );
  rejects(
    {
      clients: {
        hosts: [
          { name: "a", docker: "local" },
          { name: "a", docker: "ssh://c1m@192.0.2.10", hostKey: HOST_KEY },
        ],
      },
    },
    '✖ clients.hosts[1].name: "a" is used twice (hosts[0] and hosts[1]); give each host its own name',
  );
  rejects(
    {
      clients: {
        hosts: [
          { name: "a", docker: "local" },
          { name: "b", docker: "local" },
        ],
      },
    },
    '✖ clients.hosts[1].docker: "local" is hosts[0]\'s too: one client host per Docker engine (raise its containers instead)',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "ssh://c1m@10.203.9.2", netns: { hostAddress: "10.203.9.1/24" } }] } },
    '✖ clients.hosts[0].docker: "ssh://c1m@10.203.9.2" has user c1m: host b is made by the lab (netns) and its sshd lets in root only; use ssh://root@10.203.9.2:22',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "ssh://root@10.203.8.2", netns: { hostAddress: "10.203.9.1/24" } }] } },
    '✖ clients.hosts[0].docker: "ssh://root@10.203.8.2" has host 10.203.8.2, outside the subnet of netns.hostAddress 10.203.9.1/24; use an address in that subnet',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "ssh://root@10.201.0.5", netns: { hostAddress: "10.201.0.9/24" } }] } },
    '✖ clients.hosts[0].netns.hostAddress: "10.201.0.9/24" is in 10.201.0.0/24, already the server\'s veth subnet (server.hostAddress); give each namespace its own subnet',
  );
  rejects(
    { clients: { hosts: [{ name: "b", docker: "ssh://c1m@192.0.2.10", hostKey: HOST_KEY, sourceIps: { strategy: "routed" } }] } },
    '✖ clients.hosts[0].sourceIps.strategy: "routed" is not supported on host b (reached over ssh) yet: its clients use masquerade (the host\'s own address)',
  );
  rejects({ clients: { hosts: [] } }, "✖ Too small: expected array to have >=1 items\n  → at clients.hosts");
});

test("the plan per host: two hosts with a 1,000-port pool each against one server IP → exactly 2,000, each host named", () => {
  const c = parse({
    server: { provider: "netns", hostAddress: "10.201.9.1/24", primaryAddress: "10.201.9.2/24" },
    clients: {
      containers: 1,
      connectionsPerContainer: 1500,
      natPortRange: "40000-40999",
      hosts: [
        { name: "local", docker: "local" },
        { name: "b", docker: "ssh://root@10.203.9.2:22", netns: { hostAddress: "10.203.9.1/24" } },
      ],
    },
    test: { expect: "plateau" },
  });
  const p = planCapacity(c, REFERENCE_FACTS);
  assert.equal(p.target, 3000);
  assert.equal(p.predicted, 2000);
  assert.equal(p.ceiling, 2000);
  assert.equal(p.bindingLimit, "nat-pool");
  assert.deepEqual(
    p.paths.map((x) => [x.host, x.source, x.server, x.capacity, x.load, x.expected]),
    [
      ["local", "10.201.9.1", "10.201.9.2", 1000, 1500, 1000],
      ["b", "10.203.9.2", "10.201.9.2", 1000, 1500, 1000],
    ],
  );
  assert.deepEqual(
    p.containers.map((x) => [x.index, x.host, x.source]),
    [
      [0, "local", "10.201.9.1"],
      [1, "b", "10.203.9.2"],
    ],
  );
  assert.deepEqual(
    p.hosts!.map((h) => [h.name, h.docker, h.target, h.predicted, h.bindingLimit, h.capacity]),
    [
      ["local", "local", 1500, 1000, "nat-pool", "1 source IP × 1 server IP × 1,000 ports"],
      ["b", "ssh://root@10.203.9.2:22", 1500, 1000, "nat-pool", "1 source IP × 1 server IP × 1,000 ports"],
    ],
  );
  assert.equal(
    p.explanation,
    "Predicted 2,000 of 3,000 over 2 client hosts, limited by nat-pool on host local: host local: 1 source IP × 1 server IP × 1,000 ports = 1,000 of 1,500 (nat-pool); host b: 1 source IP × 1 server IP × 1,000 ports = 1,000 of 1,500 (nat-pool); add server IPs (server.secondaryAddresses) or client source IPs, or widen that host's natPortRange.",
  );
});

test("the binding limit names the host that cuts most; a host that fits is not listed", () => {
  const c = parse({
    server: { provider: "netns", secondaryAddresses: { count: 2 } },
    clients: {
      containers: 1,
      connectionsPerContainer: 900,
      hosts: [
        { name: "a", docker: "local", natPortRange: "40000-40999" },
        { name: "b", docker: "ssh://c1m@192.0.2.10", hostKey: HOST_KEY, natPortRange: "40000-40099", containers: 2 },
      ],
    },
    test: { expect: "plateau" },
  });
  const p = planCapacity(c, REFERENCE_FACTS);
  assert.equal(p.predicted, 900 + 3 * 100);
  assert.equal(p.bindingHost, "b");
  assert.deepEqual(
    p.hosts!.map((h) => [h.name, h.sources, h.predicted, h.bindingLimit]),
    [
      ["a", ["10.201.0.1"], 900, "target"],
      ["b", ["192.0.2.10"], 300, "nat-pool"],
    ],
  );
  assert.equal(
    p.explanation,
    "Predicted 1,200 of 2,700 over 2 client hosts, limited by nat-pool on host b: host b: 1 source IP × 3 server IPs × 100 ports = 300 of 1,800 (nat-pool); add server IPs (server.secondaryAddresses) or client source IPs, or widen that host's natPortRange.",
  );
  const rows = formatPlan("st", p)
    .split("\n")
    .map((l) => l.trim().split(/ {2,}/));
  assert.ok(
    rows.some(
      (r) => r.join("|") === "b (binding)|ssh://c1m@192.0.2.10:22|2|1,800|300|nat-pool|1 source IP × 3 server IPs × 100 ports",
    ),
  );
  assert.ok(rows.some((r) => r.join("|") === "b|192.0.2.10 → 10.201.0.4:9000|100|600|100|600%"));
});
