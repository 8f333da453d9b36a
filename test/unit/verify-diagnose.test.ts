// The connection test's judgement, one recorded scenario per limit class: exact verdicts, the
// limit, and that the sentence names the limit with its numbers and the fix.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose, type DiagnoseContext } from "../../workload/verify/diagnose.js";
import { PLATEAU_CLASSES, REACHED_CLASSES } from "../../workload/verify/limits.js";
import type { Fixture } from "../../workload/verify/types.js";
import { capAt, fixtureNames, loadFixture } from "./verify-fixtures.js";

const ctx = (fx: Fixture, over: Partial<DiagnoseContext> = {}): DiagnoseContext => ({
  expect: fx.expect,
  metricsUrl: "http://10.201.0.2:9100/stats",
  clientsLabel: "c1m-lab.stack=dev",
  ...over,
});
const judge = (fx: Fixture, over: Partial<DiagnoseContext> = {}) => diagnose(fx.plan, fx.run, ctx(fx, over));

function includesAll(text: string, parts: string[]): void {
  for (const p of parts) assert.ok(text.includes(p), `expected ${JSON.stringify(p)} in: ${text}`);
}

describe("verify diagnose: fixtures", () => {
  it("has a fixture for every limit class the tests below name", () => {
    assert.deepEqual(fixtureNames(), [
      "clients-crashed",
      "conntrack-full",
      "docker-default-port-range",
      "fd-limit-emfile",
      "half-open",
      "nat-pool-1ip",
      "port-range-not-widened",
      "refused-one-ip",
      "server-fd-limit",
      "server-unreachable",
      "soak-loss",
      "three-ips-pass",
    ]);
  });
});

describe("verify diagnose: NAT pool exhausted, 1 server IP", () => {
  const NAT_SENTENCE = [
    "Plateau at 64,512 of 80,000 connections = the NAT source-port pool 1024–65535 (64,512 ports)",
    "for 1 client IP × 1 server IP:9000",
    "conntrack insert_failed +11,000",
    "add server IPs",
    "client source IPs",
  ];

  it("is a plateau-as-expected when expect=plateau", () => {
    const fx = loadFixture("nat-pool-1ip");
    const d = judge(fx, { expect: "plateau" });
    assert.equal(d.verdict, "plateau-as-expected");
    assert.equal(d.limit, "nat-pool");
    assert.equal(d.total, 64_512);
    assert.deepEqual(d.perServerIp, { "10.201.0.2": 64_512 });
    assert.equal(d.predicted, 64_512);
    assert.equal(d.bindingLimit, "nat-pool");
    assert.equal(d.conntrack?.delta.insertFailed, 11_000);
    assert.equal(d.crossCheck?.ok, true);
    assert.equal(d.rampSeconds, 20, "the peak was first seen at t=20");
    includesAll(d.diagnosis, NAT_SENTENCE);
  });

  it("fails with the same explanation when expect=all", () => {
    const d = judge(loadFixture("nat-pool-1ip"), { expect: "all" });
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "nat-pool");
    includesAll(d.diagnosis, NAT_SENTENCE);
  });

  it("accepts a plateau at 97.5% of the pool (the last NAT ports fill slowly) and says how full", () => {
    const d = judge(capAt(loadFixture("nat-pool-1ip"), 62_900), { expect: "plateau" });
    assert.equal(d.verdict, "plateau-as-expected");
    assert.equal(d.limit, "nat-pool");
    includesAll(d.diagnosis, ["Plateau at 62,900 of 80,000 connections ≈ the NAT source-port pool", "97.5% of 64,512"]);
  });

  it("does not call 94% of the pool the NAT wall: the SYNs lost are reported as timeouts", () => {
    const d = judge(capAt(loadFixture("nat-pool-1ip"), 60_600), { expect: "plateau" });
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "connect-timeouts");
    includesAll(d.diagnosis, ["60,600 of 80,000", "1,375 connect timeouts", "the plan expected a nat-pool plateau at 64,512"]);
  });

  it("keeps the NAT verdict when a container restarted but runs again, with a warning", () => {
    const fx = loadFixture("nat-pool-1ip");
    const c0 = fx.run.observations.at(-1)!.clients![0]!;
    c0.restartCount = 1;
    const d = judge(fx, { expect: "plateau" });
    assert.equal(d.verdict, "plateau-as-expected");
    assert.equal(d.limit, "nat-pool");
    assert.ok(d.warnings.includes("c1m-client-0 restarted (1 restart) during the test."), d.warnings.join("\n"));
    c0.state = "exited";
    const down = judge(fx, { expect: "plateau" });
    assert.equal(down.verdict, "fail");
    assert.equal(down.limit, "clients-crashed");
  });

  it("judges on the server view alone when no client containers are found, and says so", () => {
    const fx = loadFixture("nat-pool-1ip");
    for (const o of fx.run.observations) o.clients = [];
    const d = judge(fx, { expect: "plateau" });
    assert.equal(d.verdict, "plateau-as-expected");
    assert.equal(d.limit, "nat-pool");
    assert.deepEqual(d.perClient, {});
    assert.equal(d.crossCheck, null);
    assert.ok(
      d.warnings.some((w) => w.includes("no client containers found with label c1m-lab.stack=dev")),
      d.warnings.join("\n"),
    );
  });

  it("fails when expect=plateau but everything connected", () => {
    const fx = loadFixture("nat-pool-1ip");
    const lastObs = structuredClone(fx.run.observations.at(-1)!);
    lastObs.t += 2;
    lastObs.server!.total = 80_000;
    lastObs.server!.perLocalAddress = { "10.201.0.2:9000": 80_000 };
    for (const c of lastObs.clients!) c.status!.established = 16_000;
    fx.run.observations.push(lastObs);
    const d = judge(fx, { expect: "plateau" });
    assert.equal(d.verdict, "fail");
    includesAll(d.diagnosis, ["All 80,000 connections were established", "predicted a plateau at 64,512 (nat-pool)"]);
  });

  it("is server-unreachable when /stats stops answering mid-test", () => {
    const fx = loadFixture("nat-pool-1ip");
    for (const o of fx.run.observations.slice(-3)) {
      o.server = null;
      o.serverError = "no answer within 5000 ms";
    }
    const d = judge(fx, { expect: "plateau" });
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "server-unreachable");
    includesAll(d.diagnosis, ["stopped answering after 24 s", "last seen 64,512 connections", "no answer within 5000 ms"]);
  });
});

describe("verify diagnose: several server IPs", () => {
  it("passes with 3 server IPs and proves shared source ports", () => {
    const d = judge(loadFixture("three-ips-pass"));
    assert.equal(d.verdict, "pass");
    assert.equal(d.limit, "none");
    assert.equal(d.total, 144_000);
    assert.deepEqual(d.perServerIp, { "10.201.0.2": 48_000, "10.201.0.3": 48_000, "10.201.0.4": 48_000 });
    assert.equal(d.sharedSourcePorts.total, 46_800);
    assert.equal(d.sharedSourcePorts.example, "source port 37816 of 10.201.0.1 reaches 10.201.0.2, .3 and .4 at once");
    assert.equal(d.rampSeconds, 10);
    assert.deepEqual(d.crossCheck, { server: 144_000, clients: 144_000, difference: 0, tolerance: 1_440, ok: true });
    includesAll(d.diagnosis, [
      "All 144,000 connections established over 3 server IPs",
      "more than the 64,512-port NAT pool allows toward one server IP",
      "46,800 NAT'd source ports",
      "10.201.0.2, .3 and .4",
    ]);
    // Round-robin gives the first address the remainders: 9 × 5,334 there, 9 × 5,333 elsewhere.
    assert.deepEqual(
      d.serverIps.map((r) => [r.ip, r.measured, r.planExpected, r.planCapacity]),
      [
        ["10.201.0.2", 48_000, 48_006, 64_512],
        ["10.201.0.3", 48_000, 47_997, 64_512],
        ["10.201.0.4", 48_000, 47_997, 64_512],
      ],
    );
  });

  it("is still-ramping when the timeout comes while connections keep rising", () => {
    const fx = loadFixture("three-ips-pass");
    fx.run.observations = fx.run.observations.slice(0, 4); // 90,000 and rising 15,000/s
    fx.run.stopReason = "timeout";
    fx.run.timeoutSeconds = 6;
    const d = judge(fx);
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "still-ramping");
    includesAll(d.diagnosis, ["Timed out after 6 s at 90,000 of 144,000", "15,000/s", "timeoutSeconds"]);
  });
});

describe("verify diagnose: container port range", () => {
  it("is plateau-as-expected with docker-default when the plan said so", () => {
    const d = judge(loadFixture("docker-default-port-range"));
    assert.equal(d.verdict, "plateau-as-expected");
    assert.equal(d.limit, "container-port-range");
    includesAll(d.diagnosis, [
      "Plateau at 56,464 of 60,000 connections = 2 containers × 28,232 local ports",
      "32768–60999",
      "3,536 EADDRNOTAVAIL",
      "1024-65535",
    ]);
    assert.ok(!d.diagnosis.includes("not widened"));
  });

  it("fails and says 'not widened' when the plan assumed a wide range", () => {
    const d = judge(loadFixture("port-range-not-widened"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "container-port-range");
    includesAll(d.diagnosis, [
      "56,464 of 60,000",
      "2 containers × 28,232 local ports",
      "not widened: the plan assumed 1024–65535",
      "ip_local_port_range",
    ]);
  });
});

describe("verify diagnose: other limits", () => {
  it("fd limit: EMFILE", () => {
    const d = judge(loadFixture("fd-limit-emfile"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "client-fd-limit");
    assert.equal(d.failures.emfile, 15_300);
    includesAll(d.diagnosis, [
      "29,700 of 45,000",
      "open-file (fd) limit",
      "15,300 connects failed with EMFILE",
      "3 containers",
      "c1m-client-0: 9,900",
      "nofile",
    ]);
  });

  it("server fd limit: workers at capacity closed accepted connections", () => {
    const fx = loadFixture("server-fd-limit");
    const d = judge(fx);
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "server-fd-limit");
    includesAll(d.diagnosis, [
      "41,800 of 45,000",
      "server workers at their fd limit: 3,200 accepted connections closed",
      "2 workers of 3 at capacity",
      "1,867–19,967 live, capacity 19,900",
      "add workers",
    ]);
    // Without the optional per-worker fields (an older server) the class cannot be told.
    for (const o of fx.run.observations) {
      if (!o.server) continue;
      delete o.server.perWorker;
      delete o.server.workersAtCapacity;
      delete o.server.acceptErrors;
    }
    assert.notEqual(judge(fx).limit, "server-fd-limit");
  });

  it("server workers full: refusals while the workers hold their capacity are the workers, not a missing listener", () => {
    const fx = loadFixture("server-fd-limit");
    // Paused workers close no accepted connection: the clients are refused instead.
    for (const c of fx.run.observations.at(-1)!.clients!) {
      c.status!.failed.refused = c.status!.dropped;
      c.status!.dropped = 0;
    }
    const d = judge(fx);
    assert.equal(d.limit, "server-fd-limit");
    assert.equal(
      d.diagnosis,
      "Plateau at 41,800 of 45,000 connections: the server's workers are full (2 of 3 workers at the capacity of 19,900 connections each, " +
        "no longer accepting), so the clients got 3,200 refusals (RST); add workers (server.workers ≥ 3 with headroom for uneven accepts) " +
        "or raise their open-file limit.",
    );
  });

  it("conntrack table full", () => {
    const d = judge(loadFixture("conntrack-full"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "conntrack");
    assert.deepEqual(d.conntrack?.delta, { insertFailed: 620, drop: 4_800, earlyDrop: 120, searchRestart: 0 });
    includesAll(d.diagnosis, [
      "65,410 of 90,000",
      "conntrack table is full",
      "nf_conntrack_count 65,536 of nf_conntrack_max 65,536",
      "drop +4,800",
      "nf_conntrack_max well above 90,000",
    ]);
  });

  it("server unreachable for the whole test", () => {
    const d = judge(loadFixture("server-unreachable"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "server-unreachable");
    assert.equal(d.total, 0);
    assert.equal(d.totalSource, "clients");
    includesAll(d.diagnosis, [
      "Server unreachable",
      "http://10.201.0.2:9100/stats did not answer any of 13 polls over 120 s",
      "ECONNREFUSED",
      "clients report 0 established",
    ]);
  });

  it("connects refused on one server IP", () => {
    const d = judge(loadFixture("refused-one-ip"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "server-refused");
    assert.deepEqual(d.perServerIp, { "10.201.0.2": 15_000, "10.201.0.3": 0 });
    includesAll(d.diagnosis, [
      "refused",
      "22,140",
      "no connection reached 10.201.0.3:9000",
      "15,000 of 30,000",
      "10.201.0.2 and 10.201.0.3",
    ]);
  });

  it("clients crashed: exited (OOM) and restarting", () => {
    const d = judge(loadFixture("clients-crashed"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "clients-crashed");
    assert.equal(d.perClient?.["c1m-client-1"]?.crashed, true);
    assert.equal(d.perClient?.["c1m-client-0"]?.crashed, false);
    includesAll(d.diagnosis, [
      "c1m-client-1 exited (code 137, OOM-killed)",
      "c1m-client-2 restarting",
      "4 restarts",
      "15,000 of 45,000",
      "heap out of memory",
    ]);
  });

  it("half-open: server and clients disagree beyond the tolerance", () => {
    const d = judge(loadFixture("half-open"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "half-open");
    assert.deepEqual(d.crossCheck, { server: 45_000, clients: 43_500, difference: 1_500, tolerance: 450, ok: false });
    includesAll(d.diagnosis, ["server holds 45,000", "clients report 43,500", "+1,500", "tolerance of 450", "half-open"]);
  });

  it("half-open: a difference within the tolerance passes", () => {
    const fx = loadFixture("half-open");
    const clients = fx.run.observations.at(-1)!.clients!;
    clients[0]!.status!.established += 1_200; // 44,700 vs 45,000: 300 ≤ 450
    const d = judge(fx);
    assert.equal(d.verdict, "pass");
    assert.equal(d.crossCheck?.ok, true);
  });

  it("soak: connections lost after the target was reached", () => {
    const d = judge(loadFixture("soak-loss"));
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "soak-loss");
    assert.deepEqual(d.soak, { seconds: 10, start: 45_000, end: 43_800, min: 43_800, lost: 1_200, clientsDropped: 1_200 });
    includesAll(d.diagnosis, ["Lost 1,200 of 45,000 connections during the 10 s soak", "45,000 → 43,800"]);
  });

  it("soak: a held plateau passes", () => {
    const fx = loadFixture("soak-loss");
    fx.run.observations = fx.run.observations.slice(0, 4); // reached at t=4, flat to t=6
    fx.run.soakSeconds = 2;
    const d = judge(fx);
    assert.equal(d.verdict, "pass");
    includesAll(d.diagnosis, ["All 45,000 connections established", "held for 2 s without a loss"]);
  });
});

/** 54 server addresses as the million stack has them: 10.201.6.2 … 10.201.6.55. */
const MILLION_IPS = Array.from({ length: 54 }, (_, i) => `10.201.6.${i + 2}`);

/** Moves a fixture's plan and its last server view onto the 54 addresses, `count(i)` on the i-th. */
function onMillionIps(fx: Fixture, count: (i: number) => number): Fixture {
  fx.plan.serverAddresses = MILLION_IPS;
  fx.plan.paths = MILLION_IPS.map((ip) => ({
    source: "10.201.6.1",
    server: ip,
    port: 9000,
    capacity: 64_512,
    load: 556,
    expected: 556,
    kind: "nat" as const,
  }));
  const server = fx.run.observations.at(-1)!.server!;
  server.perLocalAddress = Object.fromEntries(MILLION_IPS.map((ip, i) => [`${ip}:9000`, count(i)]));
  return fx;
}

/** Adds copies of the last poll's client `from`, named c1m-client-<i> for each i. */
function withCopies(fx: Fixture, from: number, indices: number[]): Fixture {
  const clients = fx.run.observations.at(-1)!.clients!;
  for (const i of indices) clients.push({ ...structuredClone(clients[from]!), name: `c1m-client-${i}` });
  return fx;
}

describe("verify diagnose: one sentence at 54 server IPs", () => {
  it("pass: the per-IP counts as a range, one shared source port with three of its server IPs", () => {
    // 144,000 over 54 addresses: 36 × 2,667 + 18 × 2,666.
    const fx = onMillionIps(loadFixture("three-ips-pass"), (i) => (i < 36 ? 2_667 : 2_666));
    fx.run.observations.at(-1)!.server!.sharedSourcePorts = {
      "10.201.6.1": {
        count: 46_800,
        example: { port: 40_000, localAddresses: MILLION_IPS.slice(0, 34).map((ip) => `${ip}:9000`) },
      },
    };
    const d = judge(fx);
    assert.equal(d.verdict, "pass");
    assert.equal(
      d.diagnosis,
      "All 144,000 connections established over 54 server IPs (2,666–2,667 each), more than the 64,512-port NAT pool allows toward one server IP: " +
        "46,800 NAT'd source ports are in use toward more than one server IP (e.g. source port 40000 of 10.201.6.1 reaches 10.201.6.2, .3, .4 and 31 more server IPs at once).",
    );
    assert.equal(Object.keys(d.perServerIp).length, 54, "the full per-IP table stays in the report");
  });

  it("refused: the silent addresses counted, the first three named", () => {
    const silent = new Set([7, 8, 9, 20, 21, 22, 30, 31, 32, 40, 41, 42]);
    const fx = onMillionIps(loadFixture("refused-one-ip"), (i) => (silent.has(i) ? 0 : 357));
    const d = judge(fx);
    assert.equal(d.limit, "server-refused");
    assert.equal(
      d.diagnosis,
      "Connects refused: the clients got 22,140 refusals (RST) and no connection reached 12 of 54 server IPs (10.201.6.9, .10, .11 and 9 more), " +
        "with 15,000 of 30,000 connections established; nothing listens there — check that the server runs and listens on every server address " +
        "(all 54, 10.201.6.2 … 10.201.6.55) at port 9000.",
    );
  });

  it("crashed clients: the first three named, the rest counted", () => {
    const d = judge(withCopies(loadFixture("clients-crashed"), 1, [3, 4, 5, 6]));
    assert.equal(d.limit, "clients-crashed");
    assert.equal(
      d.diagnosis,
      "Client containers crashed: c1m-client-1 exited (code 137, OOM-killed), c1m-client-2 restarting (code 1, 4 restarts), " +
        "c1m-client-3 exited (code 137, OOM-killed) and 3 more, with 15,000 of 45,000 connections established; see docker logs c1m-client-1 " +
        '(last said: "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory") and check the containers\' memory and ulimits.',
    );
  });

  it("fd limit: over many containers, the range they held", () => {
    const fx = withCopies(loadFixture("fd-limit-emfile"), 0, [3, 4]);
    fx.run.observations.at(-1)!.clients![4]!.status!.established = 9_800;
    const d = judge(fx);
    assert.equal(d.limit, "client-fd-limit");
    assert.ok(
      d.diagnosis.includes(
        "connects failed with EMFILE in 5 containers (9,800–9,900 established each); raise the containers' nofile ulimit",
      ),
      d.diagnosis,
    );
  });

  it("each limit class is one entry: the plateau classes in order, then the checks of a reached target", () => {
    assert.deepEqual(
      PLATEAU_CLASSES.map((c) => c.limit),
      [
        "clients-crashed",
        "client-fd-limit",
        "server-fd-limit",
        "conntrack",
        "server-fd-limit",
        "server-refused",
        "container-port-range",
        "nat-pool",
        "clients-crashed",
        "still-ramping",
        "connect-timeouts",
      ],
    );
    assert.deepEqual(
      REACHED_CLASSES.map((c) => c.limit),
      ["soak-loss", "half-open", "none"],
    );
  });
});
