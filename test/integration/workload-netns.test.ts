// Server and client in two network namespaces this test creates, joined by a veth pair (nothing
// on the host's own interfaces): exact counts per server IP, the addrnotavail class, and a NAT
// pool narrowed to 100 ports: ~100 connections per server IP, the rest time out, and the same
// 100 source ports are in use toward both server IPs at once (the article's proof).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { ClientStatus } from "../../shared/protocol.js";
import { needsRoot, runScript, sh } from "../support/sh.js";
import { runClient, startClient, startServer } from "../support/workload-harness.js";
import { mergeRtt, rttPercentiles } from "../../workload/rttHistogram.js";

const tag = `c1mt-wl-${process.pid}`;
const nsClient = `${tag}-c`;
const nsServer = `${tag}-s`;
const ifClient = `c1wl${process.pid % 100_000}c`;
const ifServer = `c1wl${process.pid % 100_000}s`;
const net3 = `10.213.${100 + (process.pid % 150)}`;
const clientIp = `${net3}.1`;
const serverIps = [`${net3}.2`, `${net3}.3`];
const NAT_PORTS = "40000-40099";
/** The client holds connections as bare TCP handles; net.Socket is its fallback. */
const CLIENT_PATHS: Array<[string, Record<string, string>]> = [
  ["bare TCP handles", {}],
  ["net.Socket fallback", { C1M_CLIENT_NET_SOCKETS: "1" }],
];

function cleanup(): void {
  // Deleting a namespace takes its veth end (and so the pair), addresses and iptables rules.
  runScript(
    `ip netns del ${nsClient} 2>/dev/null; ip netns del ${nsServer} 2>/dev/null; ip link del ${ifClient} 2>/dev/null; true`,
  );
}

function setUp(t: TestContext): void {
  cleanup();
  t.after(cleanup);
  sh(`set -e
    ip netns add ${nsClient}
    ip netns add ${nsServer}
    ip link add ${ifClient} netns ${nsClient} type veth peer name ${ifServer} netns ${nsServer}
    ip -n ${nsClient} link set lo up
    ip -n ${nsServer} link set lo up
    ip -n ${nsClient} addr add ${clientIp}/24 dev ${ifClient}
    ip -n ${nsServer} addr add ${serverIps[0]}/24 dev ${ifServer}
    ip -n ${nsServer} addr add ${serverIps[1]}/24 dev ${ifServer}
    ip -n ${nsClient} link set ${ifClient} up
    ip -n ${nsServer} link set ${ifServer} up
    # Keep the client's own ephemeral ports clear of the NAT pool.
    ip netns exec ${nsClient} sysctl -qw net.ipv4.ip_local_port_range="41000 60999"`);
}

for (const [path, env] of CLIENT_PATHS) {
  test(`two namespaces: exact counts per server IP, addrnotavail, NAT pool of 100 ports (client: ${path})`, async (t) => {
    if (!needsRoot(t)) return;
    setUp(t);
    const server = await startServer(
      t,
      ["--addresses", serverIps.join(","), "--port", "9000", "--metrics-address", "127.0.0.1", "--metrics-port", "9100"],
      { netns: nsServer },
    );
    const targets = server.info.addresses.join(",");
    assert.equal(targets, serverIps.map((ip) => `${ip}:9000`).join(","));

    await t.test("200 connections, 100 per server IP, all from the client namespace's address", async (t) => {
      const client = startClient(t, ["--targets", targets, "--connections", "200", "--status-interval-ms", "100"], {
        netns: nsClient,
        env,
      });
      await client.waitJson<ClientStatus>((s) => s.established === 200, 10_000, "200 established");
      const s = await server.waitStats((x) => x.total === 200, 5000, "200 live");
      assert.deepEqual(s.perLocalAddress, { [`${serverIps[0]}:9000`]: 100, [`${serverIps[1]}:9000`]: 100 });
      assert.deepEqual(s.perRemoteIp, { [clientIp]: 200 });
      assert.equal((await client.stop("SIGTERM")).code, 0);
      await server.waitStats((x) => x.total === 0, 5000, "closed after the client stopped");
      // The path under test is the one the client took.
      assert.equal(client.stderr.includes("one net.Socket per connection"), env.C1M_CLIENT_NET_SOCKETS === "1", client.stderr);
    });

    await t.test("the server echoes pings: 50 round trips recorded within 5 s, each under 1 s", async (t) => {
      const client = startClient(
        t,
        ["--targets", targets, "--connections", "50", "--ping-interval-seconds", "1", "--status-interval-ms", "100"],
        { netns: nsClient, env },
      );
      // The first pings leave a second after each connection, then once a second.
      const s = await client.waitJson<ClientStatus>(
        (x) => x.rtt !== undefined && mergeRtt([x.rtt.histogram]).merged.totalCount >= 50,
        5000,
        "50 round trips",
      );
      const p = rttPercentiles(mergeRtt([s.rtt!.histogram]).merged)!;
      assert.ok(p.p50 > 0 && p.max < 1000, `round trips within a namespace pair: ${JSON.stringify(p)}`);
      assert.equal((await client.stop("SIGTERM")).code, 0);
      await server.waitStats((x) => x.total === 0, 5000, "closed after the client stopped");
    });

    await t.test("a source address the namespace does not have: addrnotavail", async (t) => {
      const r = await runClient(
        t,
        ["--targets", targets, "--connections", "6", "--source-addresses", `${net3}.99`, "--hold-seconds", "0.1"],
        { netns: nsClient, env },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.final?.failed.addrnotavail, 6);
      assert.equal(r.final?.established, 0);
    });

    await t.test("MASQUERADE to 100 ports: 100 per server IP connect, the rest time out, ports shared", async (t) => {
      sh(`ip netns exec ${nsClient} iptables -t nat -A POSTROUTING -o ${ifClient} -p tcp -j MASQUERADE --to-ports ${NAT_PORTS}`);
      const client = startClient(
        t,
        ["--targets", targets, "--connections", "300", "--connect-timeout-ms", "1500", "--status-interval-ms", "100"],
        { netns: nsClient, env },
      );
      const settled = await client.waitJson<ClientStatus>(
        (s) => s.attempted === 300 && s.inFlight === 0,
        10_000,
        "every connect settled",
      );
      assert.equal(settled.established, 200);
      assert.equal(settled.failed.timeout, 100);
      assert.equal(settled.rampSeconds, null);

      const s = await server.waitStats((x) => x.total === 200, 5000, "200 live");
      assert.deepEqual(s.perLocalAddress, { [`${serverIps[0]}:9000`]: 100, [`${serverIps[1]}:9000`]: 100 });
      assert.deepEqual(s.perRemoteIp, { [clientIp]: 200 });
      // Conntrack lets one source port serve both destinations: all 100 pool ports are in use twice.
      const shared = s.sharedSourcePorts[clientIp];
      assert.equal(shared?.count, 100);
      assert.ok(shared.example!.port >= 40000 && shared.example!.port <= 40099, `example port ${shared.example!.port}`);
      assert.deepEqual(
        shared.example!.localAddresses,
        serverIps.map((ip) => `${ip}:9000`),
      );
      for (const list of Object.values(s.samples)) {
        for (const sample of list) assert.match(sample, new RegExp(`^${clientIp.replace(/\./g, "\\.")}:400\\d\\d$`));
      }

      // Target not reached: a signal ends it with exit 1.
      assert.equal((await client.stop("SIGTERM")).code, 1);
    });
  });
}
