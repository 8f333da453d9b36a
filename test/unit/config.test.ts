// Stack config: defaults, derived addresses, and errors that name the key, the value and what is valid.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, configWarnings, parseLabConfig } from "../../infra/config/schema.js";
import { connectionTestArgs } from "../../infra/check/args.js";

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
  assert.deepEqual(c.clients.reconnect, { baseMs: 250, capMs: 30_000, jitter: "full" });
  assert.deepEqual(c.clients.sourceIps, { strategy: "masquerade" });
  assert.equal(c.test.expect, "all");
  assert.deepEqual(c.test.dashboard, { host: "127.0.0.1", port: 9180, lingerSeconds: 5 });
  assert.equal(parseLabConfig({ test: { dashboard: false } }).test.dashboard, false);
});

test("clients.reconnect: a partial setting keeps the other defaults", () => {
  assert.deepEqual(parseLabConfig({ clients: { reconnect: { jitter: "none" } } }).clients.reconnect, {
    baseMs: 250,
    capMs: 30_000,
    jitter: "none",
  });
  assert.deepEqual(parseLabConfig({ clients: { reconnect: { baseMs: 1000, capMs: 1000 } } }).clients.reconnect, {
    baseMs: 1000,
    capMs: 1000,
    jitter: "full",
  });
});

test("values arrive as JSON strings, the way Pulumi passes structured config", () => {
  const c = parseLabConfig({ server: JSON.stringify({ provider: "netns", secondaryAddresses: { count: 2 } }) });
  assert.deepEqual(c.server.addresses, ["10.201.0.2/24", "10.201.0.3/24", "10.201.0.4/24"]);
});

test("secondary addresses: a list, bare addresses taking the primary's prefix", () => {
  const c = parseLabConfig({ server: { provider: "netns", secondaryAddresses: ["10.201.0.15", "10.201.0.25/24"] } });
  assert.deepEqual(c.server.addresses, ["10.201.0.2/24", "10.201.0.15/24", "10.201.0.25/24"]);
});

/** An adopted host: an ed25519 host key (ssh-keygen output, the comment dropped). */
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
const SSH = {
  provider: "ssh",
  host: "10.0.0.5",
  user: "ubuntu",
  hostKey: HOST_KEY,
  interface: "eth0",
  primaryAddress: "10.0.0.5/24",
  secondaryAddresses: ["10.0.0.6/24"],
};

test("an ssh host: its host key is kept as given", () => {
  const c = parseLabConfig({ server: SSH });
  assert.ok(c.server.provider === "ssh");
  assert.equal(c.server.hostKey, HOST_KEY);
});

test("an ssh host: the lab's secondary addresses are the targets, the host's own primary only with targetPrimary; metrics on loopback", () => {
  const c = parseLabConfig({ server: { ...SSH, secondaryAddresses: ["10.0.0.6/24", "10.0.0.7/24"] } });
  assert.ok(c.server.provider === "ssh");
  assert.equal(c.server.targetPrimary, false);
  assert.deepEqual(c.server.addresses, ["10.0.0.6/24", "10.0.0.7/24"]);
  assert.equal(c.server.metricsAddress, "127.0.0.1");
  const withPrimary = parseLabConfig({ server: { ...SSH, targetPrimary: true } });
  assert.deepEqual(withPrimary.server.addresses, ["10.0.0.5/24", "10.0.0.6/24"]);
  const alone = parseLabConfig({ server: { ...SSH, secondaryAddresses: [], targetPrimary: true } });
  assert.deepEqual(alone.server.addresses, ["10.0.0.5/24"]);
});

test("lab-made VMs: every lab address is a target (the primary too); metrics on loopback unless configured", () => {
  const qemu = parseLabConfig({ server: { provider: "qemu", image: "/x.qcow2", secondaryAddresses: { count: 1 } } });
  assert.deepEqual(qemu.server.addresses, ["10.202.0.2/24", "10.202.0.3/24"]);
  assert.ok(qemu.server.provider === "qemu");
  assert.equal(qemu.server.metricsAddress, "127.0.0.1");
  const mp = parseLabConfig({ server: { provider: "multipass", primaryAddress: "10.9.0.2/24", metricsAddress: "10.9.0.2" } });
  assert.ok(mp.server.provider === "multipass");
  assert.equal(mp.server.metricsAddress, "10.9.0.2");
});

test("configWarnings: a metrics address off loopback is named, with what it exposes; loopback and netns say nothing", () => {
  assert.deepEqual(configWarnings(parseLabConfig({ server: SSH })), []);
  assert.deepEqual(configWarnings(parseLabConfig({ server: { ...SSH, metricsAddress: "127.0.0.2" } })), []);
  assert.deepEqual(configWarnings(parseLabConfig({})), []);
  assert.deepEqual(configWarnings(parseLabConfig({ server: { ...SSH, metricsAddress: "0.0.0.0" } })), [
    "server.metricsAddress is 0.0.0.0, not loopback: the server's /stats, /metrics and /healthz (no authentication) are reachable from every network that reaches any address of the host; the connection test reads them through ssh either way, so 127.0.0.1 (the default) is enough for the lab",
  ]);
  assert.deepEqual(configWarnings(parseLabConfig({ server: { ...SSH, metricsAddress: "10.0.0.5" } })), [
    "server.metricsAddress is 10.0.0.5, not loopback: the server's /stats, /metrics and /healthz (no authentication) are reachable from every network that reaches 10.0.0.5; the connection test reads them through ssh either way, so 127.0.0.1 (the default) is enough for the lab",
  ]);
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
    'Invalid c1m-lab config:\n✖ server.secondaryAddresses[0]: "10.201.0.2/24" is listed twice; every server address must be distinct',
  ],
  [
    "an address outside the veth subnet",
    { server: { provider: "netns", secondaryAddresses: ["10.9.0.3/24"] } },
    'Invalid c1m-lab config:\n✖ server.secondaryAddresses[0]: "10.9.0.3/24" is outside the veth subnet of hostAddress 10.201.0.1/24; use addresses in that subnet',
  ],
  [
    "a secondary address that is not one",
    { server: { provider: "netns", secondaryAddresses: ["10.201.0.3/24", "10.201.0.300/24"] } },
    'Invalid c1m-lab config:\n✖ server.secondaryAddresses[1]: "10.201.0.300/24" is not an IPv4 address with prefix, like 10.201.0.3/24',
  ],
  [
    "several bad secondary addresses, each named (a bare one, a number)",
    { server: { provider: "netns", secondaryAddresses: ["10.201.0.x", 7] } },
    "Invalid c1m-lab config:\n" +
      '✖ server.secondaryAddresses[0]: "10.201.0.x" is not an IPv4 address, like 10.201.0.3 or 10.201.0.3/24\n' +
      "✖ server.secondaryAddresses[1]: 7 is not an IPv4 address, like 10.201.0.3 or 10.201.0.3/24",
  ],
  [
    "a bare secondary address listed twice (as written)",
    { server: { provider: "netns", secondaryAddresses: ["10.201.0.3", "10.201.0.4", "10.201.0.3/24"] } },
    'Invalid c1m-lab config:\n✖ server.secondaryAddresses[2]: "10.201.0.3/24" is listed twice; every server address must be distinct',
  ],
  [
    "a bad count of secondary addresses (the count form, not a list)",
    { server: { provider: "netns", secondaryAddresses: { count: -1 } } },
    "Invalid c1m-lab config:\n✖ Too small: expected number to be >=0; got -1\n  → at server.secondaryAddresses.count",
  ],
  [
    "secondary addresses neither a list nor a count",
    { server: { provider: "netns", secondaryAddresses: "10.201.0.3" } },
    'Invalid c1m-lab config:\n✖ a list of addresses like [10.201.0.3/24] or { count: 2, start: 10.201.0.3 }; got "10.201.0.3"\n  → at server.secondaryAddresses',
  ],
  [
    "a primary address outside the veth subnet (named as the primary)",
    { server: { provider: "netns", primaryAddress: "10.9.0.2/24" } },
    "Invalid c1m-lab config:\n✖ address 10.9.0.2/24 is outside the veth subnet of hostAddress 10.201.0.1/24; use addresses in that subnet\n  → at server.primaryAddress",
  ],
  [
    "a client source address without a prefix",
    { clients: { sourceIps: { strategy: "host-ips", addresses: ["10.201.0.20/24", "10.201.0.21"] } } },
    'Invalid c1m-lab config:\n✖ clients.sourceIps.addresses[1]: "10.201.0.21" is not an IPv4 address with prefix, like 10.201.0.3/24',
  ],
  [
    "a client source address outside the veth subnet",
    {
      clients: { subnet: "172.30.200.0/23", sourceIps: { strategy: "host-ips", addresses: ["10.201.0.20/24", "10.9.0.21/24"] } },
    },
    'Invalid c1m-lab config:\n✖ clients.sourceIps.addresses[1]: "10.9.0.21/24" is outside the veth subnet of hostAddress 10.201.0.1/24; use addresses in that subnet',
  ],
  [
    "a client source address that is a server address",
    { clients: { sourceIps: { strategy: "host-ips", addresses: ["10.201.0.2/24"] } } },
    'Invalid c1m-lab config:\n✖ clients.sourceIps.addresses[0]: "10.201.0.2/24" is already a server address',
  ],
  [
    "a shell-hostile interface name",
    { server: { ...SSH, interface: "eth0;reboot" } },
    `Invalid c1m-lab config:\n✖ an interface name: 1-15 letters, digits, '_', '.', '-'; got "eth0;reboot"\n  → at server.interface`,
  ],
  [
    "an ssh host without its host key (ssh would talk to whatever answers)",
    { server: { ...SSH, hostKey: undefined } },
    "Invalid c1m-lab config:\n✖ server.hostKey is required with provider ssh (so ssh talks to that host and no other); set it to the host's public key: the key type and key that `ssh-keyscan -t ed25519 HOST` prints after the host name, or the host's /etc/ssh/ssh_host_ed25519_key.pub without its comment, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'\n  → at server.hostKey",
  ],
  [
    "a truncated host key",
    { server: { ...SSH, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aW" } },
    "Invalid c1m-lab config:\n✖ server.hostKey must be the host's public key: the key type and key that `ssh-keyscan -t ed25519 HOST` prints after the host name, or the host's /etc/ssh/ssh_host_ed25519_key.pub without its comment, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'; got \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aW\"\n  → at server.hostKey",
  ],
  [
    "the whole ssh-keyscan line, host name included",
    { server: { ...SSH, hostKey: `10.0.0.5 ${HOST_KEY}` } },
    "Invalid c1m-lab config:\n✖ server.hostKey must be the host's public key: the key type and key that `ssh-keyscan -t ed25519 HOST` prints after the host name, or the host's /etc/ssh/ssh_host_ed25519_key.pub without its comment, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'; got \"10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5\n  → at server.hostKey",
  ],
  [
    "a key whose type is not the one its blob holds",
    { server: { ...SSH, hostKey: `ssh-rsa ${HOST_KEY.split(" ")[1]}` } },
    "Invalid c1m-lab config:\n✖ server.hostKey must be the host's public key: the key type and key that `ssh-keyscan -t ed25519 HOST` prints after the host name, or the host's /etc/ssh/ssh_host_ed25519_key.pub without its comment, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'; got \"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc\"\n  → at server.hostKey",
  ],
  [
    "a privileged port on a VM (its server runs unprivileged)",
    { server: { ...SSH, port: 80 } },
    "Invalid c1m-lab config:\n✖ port 80 is below 1024: on a ssh host the server runs as an unprivileged user, which cannot bind it; use 1024-65535\n  → at server.port",
  ],
  [
    "an ssh host with no secondary address and targetPrimary off",
    { server: { ...SSH, secondaryAddresses: [] } },
    "Invalid c1m-lab config:\n✖ secondaryAddresses lists no address: on an ssh host the server listens on the lab's own secondary addresses only; add free addresses there, or set server.targetPrimary: true to test against the host's own primaryAddress\n  → at server.secondaryAddresses",
  ],
  [
    "a metrics address that is not the server host's",
    { server: { ...SSH, metricsAddress: "10.0.0.9" } },
    "Invalid c1m-lab config:\n✖ metricsAddress 10.0.0.9 is not an address of the server host: use 127.0.0.1 (the default; the test reads the metrics through ssh), 0.0.0.0, primaryAddress or one of secondaryAddresses\n  → at server.metricsAddress",
  ],
  [
    "a metrics address on the namespace provider (its metrics are on the primary)",
    { server: { provider: "netns", metricsAddress: "127.0.0.1" } },
    'Invalid c1m-lab config:\n✖ Unrecognized key: "metricsAddress"\n  → at server',
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
    "a dashboard port out of range",
    { test: { dashboard: { port: 70000 } } },
    "Invalid c1m-lab config:\n✖ Too big: expected number to be <=65535; got 70000\n  → at test.dashboard.port",
  ],
  [
    "expect outside all | plateau",
    { test: { expect: "maybe" } },
    `Invalid c1m-lab config:\n✖ Invalid option: expected one of "all"|"plateau"; got "maybe"\n  → at test.expect`,
  ],
  [
    "a p99 round-trip bound with no ping during the hold",
    { clients: { ping: { intervalSeconds: 30 } }, test: { soakSeconds: 38, maxRttMs: 50 } },
    "Invalid c1m-lab config:\n✖ maxRttMs bounds the round trips of the hold's pings, but clients ping every 30 s and the hold (test.soakSeconds) lasts 38 s: make test.soakSeconds at least clients.ping.intervalSeconds + 9\n  → at test.maxRttMs",
  ],
  [
    "a p99 round-trip bound longer than a ping may go unanswered",
    { clients: { ping: { intervalSeconds: 1 } }, test: { soakSeconds: 30, maxRttMs: 5001 } },
    "Invalid c1m-lab config:\n✖ at most 5000 ms: a ping unanswered after 5 s counts as lost; got 5001\n  → at test.maxRttMs",
  ],
  [
    "a p99 round-trip bound of 0",
    { clients: { ping: { intervalSeconds: 1 } }, test: { soakSeconds: 30, maxRttMs: 0 } },
    "Invalid c1m-lab config:\n✖ Too small: expected number to be >0; got 0\n  → at test.maxRttMs",
  ],
  [
    "an unknown reconnect jitter",
    { clients: { reconnect: { jitter: "equal" } } },
    'Invalid c1m-lab config:\n✖ Invalid option: expected one of "full"|"none"; got "equal"\n  → at clients.reconnect.jitter',
  ],
  [
    "a reconnect cap below the base",
    { clients: { reconnect: { baseMs: 500, capMs: 400 } } },
    "Invalid c1m-lab config:\n✖ capMs must be at least baseMs (500); got 400 (unset, it is 30000)\n  → at clients.reconnect.capMs",
  ],
  [
    "a reconnect base above the default cap, the cap unset",
    { clients: { reconnect: { baseMs: 60_000 } } },
    "Invalid c1m-lab config:\n✖ capMs must be at least baseMs (60000); got 30000 (unset, it is 30000)\n  → at clients.reconnect.capMs",
  ],
  [
    "a zero reconnect base",
    { clients: { reconnect: { baseMs: 0 } } },
    "Invalid c1m-lab config:\n✖ Too small: expected number to be >=1; got 0\n  → at clients.reconnect.baseMs",
  ],
  [
    "a reconnect cap as text",
    { clients: { reconnect: { capMs: "5s" } } },
    'Invalid c1m-lab config:\n✖ Invalid input: expected number, received string; got "5s"\n  → at clients.reconnect.capMs',
  ],
  [
    "an unknown key under clients.reconnect",
    { clients: { reconnect: { retries: 3 } } },
    'Invalid c1m-lab config:\n✖ Unrecognized key: "retries"\n  → at clients.reconnect',
  ],
];

test("test.maxRttMs reaches the connection test as --max-rtt-ms; unset, no flag", () => {
  const paths = { reportsDir: "reports" } as Parameters<typeof connectionTestArgs>[2];
  const endpoints = { metricsUrl: "http://10.201.0.2:9100", clientsLabel: "c1m-lab.stack=dev" };
  const bounded = parseLabConfig({ clients: { ping: { intervalSeconds: 1 } }, test: { soakSeconds: 10, maxRttMs: 2.5 } });
  const args = connectionTestArgs(bounded, "dev", paths, endpoints);
  assert.deepEqual(args.slice(args.indexOf("--max-rtt-ms"), args.indexOf("--max-rtt-ms") + 2), ["--max-rtt-ms", "2.5"]);
  assert.equal(connectionTestArgs(parseLabConfig({}), "dev", paths, endpoints).includes("--max-rtt-ms"), false);
});

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
