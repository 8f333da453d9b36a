// A VM's metrics through the ssh tunnel: where the tunnel forwards to, the URL polled through it,
// how the messages name the stats, and a failed read naming the tunnel's own failure. Pure.
import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardTarget, metricsWhere, throughTunnel, withTunnelErrors } from "../../workload/verify/remoteMetrics.js";
import { metricsTunnelArgs } from "../../infra/check/args.js";
import type { Observation } from "../../workload/verify/types.js";

const SSH = { user: "c1m", host: "10.202.0.2", port: 22, hostKey: "ssh-ed25519 AAAA" };

test("forwardTarget: the URL's address and port as the host sees them (80/443 when none)", () => {
  assert.deepEqual(forwardTarget("http://127.0.0.1:9100"), { host: "127.0.0.1", port: 9100 });
  assert.deepEqual(forwardTarget("http://10.0.0.5:9200/stats"), { host: "10.0.0.5", port: 9200 });
  assert.deepEqual(forwardTarget("http://127.0.0.1"), { host: "127.0.0.1", port: 80 });
  assert.deepEqual(forwardTarget("https://[::1]/stats"), { host: "::1", port: 443 });
});

test("throughTunnel: the tunnel's local end in place of the host's address, the path kept", () => {
  assert.equal(throughTunnel("http://127.0.0.1:9100", "http://127.0.0.1:40123"), "http://127.0.0.1:40123/");
  assert.equal(throughTunnel("http://10.0.0.5:9100/stats", "http://127.0.0.1:40123"), "http://127.0.0.1:40123/stats");
});

test("metricsWhere: the stats named as the host sees them, with the ssh hop; unchanged without one", () => {
  assert.equal(metricsWhere("http://127.0.0.1:9100/stats", SSH), "http://127.0.0.1:9100/stats on c1m@10.202.0.2 (through ssh)");
  assert.equal(metricsWhere("http://10.201.0.2:9100/stats", null), "http://10.201.0.2:9100/stats");
});

test("withTunnelErrors: a failed read gets the tunnel's last error; a good one is left alone", async () => {
  const base: Omit<Observation, "t"> = {
    server: null,
    serverError: "fetch failed",
    clients: null,
    clientsError: null,
    conntrack: null,
    conntrackError: null,
  };
  const failed = withTunnelErrors(
    async () => base,
    () => "ssh c1m@10.202.0.2:22: connect ECONNREFUSED 10.202.0.2:22",
  );
  assert.equal((await failed()).serverError, "fetch failed (ssh c1m@10.202.0.2:22: connect ECONNREFUSED 10.202.0.2:22)");
  const quiet = withTunnelErrors(
    async () => base,
    () => null,
  );
  assert.equal((await quiet()).serverError, "fetch failed");
  const ok = { ...base, serverError: null };
  assert.deepEqual(
    await withTunnelErrors(
      async () => ok,
      () => "stale",
    )(),
    ok,
  );
});

test("metricsTunnelArgs: verify's flags for the tunnel, one word each", () => {
  assert.deepEqual(metricsTunnelArgs({ user: "ubuntu", host: "db1.example", port: 2222, hostKey: "ssh-ed25519 AAAAC3Nza" }), [
    "--metrics-ssh",
    "ubuntu@db1.example:2222",
    "--metrics-ssh-host-key",
    "ssh-ed25519 AAAAC3Nza",
  ]);
});
