// Stack config: defaults, derived addresses, and errors that name the key, the value and what is valid.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config.js";

test("an empty config gives the working local default", () => {
  const c = parseLabConfig({});
  assert.equal(c.server.provider, "netns");
  assert.deepEqual(c.server.addresses, ["10.201.0.2/24"]);
  assert.equal(c.server.port, 9000);
  assert.equal(c.server.workers, "auto");
  assert.equal(c.clients.containers, 3);
  assert.deepEqual(c.clients.localPortRange, { from: 1024, to: 65535, size: 64_512 });
  assert.deepEqual(c.clients.ping, { payload: "ping", intervalSeconds: 100 });
  assert.equal(c.clients.targetOrder, "interleaved");
  assert.deepEqual(c.clients.sourceIps, { strategy: "masquerade" });
  assert.equal(c.test.expect, "all");
});

test("values arrive as JSON strings, the way Pulumi passes structured config", () => {
  const c = parseLabConfig({ server: JSON.stringify({ provider: "netns", secondaryAddresses: { count: 2 } }) });
  assert.deepEqual(c.server.addresses, ["10.201.0.2/24", "10.201.0.3/24", "10.201.0.4/24"]);
});

test("secondary addresses: a list, bare addresses taking the primary's prefix", () => {
  const c = parseLabConfig({ server: { provider: "netns", secondaryAddresses: ["10.201.0.15", "10.201.0.25/24"] } });
  assert.deepEqual(c.server.addresses, ["10.201.0.2/24", "10.201.0.15/24", "10.201.0.25/24"]);
});

const bad: [string, Record<string, unknown>, string][] = [
  [
    "unknown provider",
    { server: { provider: "vmware" } },
    "Invalid c1m-lab config:\n✖ provider must be one of: netns, multipass, ssh, qemu\n  → at server.provider",
  ],
  [
    "a duplicated address",
    { server: { provider: "netns", secondaryAddresses: ["10.201.0.2/24"] } },
    "Invalid c1m-lab config:\n✖ address 10.201.0.2 is listed twice; every server address must be distinct\n  → at server.secondaryAddresses",
  ],
  [
    "an address outside the veth subnet",
    { server: { provider: "netns", secondaryAddresses: ["10.9.0.3/24"] } },
    "Invalid c1m-lab config:\n✖ address 10.9.0.3/24 is outside the veth subnet of hostAddress 10.201.0.1/24; use addresses in that subnet\n  → at server.secondaryAddresses",
  ],
  [
    "a shell-hostile interface name",
    { server: { provider: "ssh", host: "10.0.0.5", user: "ubuntu", interface: "eth0;reboot", primaryAddress: "10.0.0.5/24" } },
    `Invalid c1m-lab config:\n✖ an interface name: 1-15 letters, digits, '_', '.', '-'; got "eth0;reboot"\n  → at server.interface`,
  ],
  [
    "a bad NAT port range",
    { clients: { natPortRange: "40000-39999" } },
    `Invalid c1m-lab config:\n✖ a port range within 1-65535 with from <= to; got "40000-39999"\n  → at clients.natPortRange`,
  ],
  [
    "a sysctl key that is not one",
    { tuning: { sysctls: { "rm -rf": 1 } } },
    `Invalid c1m-lab config:\n✖ a sysctl key like net.core.somaxconn; got "rm -rf"\n  → at tuning.sysctls["rm -rf"]`,
  ],
  [
    "an unknown key inside a section",
    { clients: { container: 3 } },
    `Invalid c1m-lab config:\n✖ Unrecognized key: "container"\n  → at clients`,
  ],
  [
    "an unknown top-level key",
    { client: {} },
    "Invalid c1m-lab config:\n✖ Unknown key c1m-lab:client\n  → valid keys: server, tuning, clients, test",
  ],
  [
    "expect outside all | plateau",
    { test: { expect: "maybe" } },
    `Invalid c1m-lab config:\n✖ Invalid option: expected one of "all"|"plateau"; got "maybe"\n  → at test.expect`,
  ],
];

for (const [name, input, message] of bad) {
  test(`rejects ${name}`, () => {
    assert.throws(
      () => parseLabConfig(input),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.message, message);
        return true;
      },
    );
  });
}
