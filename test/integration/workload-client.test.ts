// The connection client for real, on loopback, against servers the test runs itself.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import type { ClientStatus } from "../../shared/protocol.js";
import { runClient, sleep, startClient, waitUntil } from "../support/workload-harness.js";

/** A plain server in the test process that remembers every socket and what it received. */
async function recordingServer(t: TestContext, host: string, port = 0) {
  const sockets: net.Socket[] = [];
  const received = new Map<net.Socket, string>();
  /** ms from accept to the first byte received, per socket that got one. */
  const firstByteAfterMs = new Map<net.Socket, number>();
  const server = net.createServer((s) => {
    const acceptedAt = performance.now();
    sockets.push(s);
    received.set(s, "");
    s.setEncoding("latin1");
    s.on("data", (d: string) => {
      if (!firstByteAfterMs.has(s)) firstByteAfterMs.set(s, performance.now() - acceptedAt);
      received.set(s, received.get(s)! + d);
    });
    s.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const addr = server.address() as net.AddressInfo;
  return { server, sockets, received, firstByteAfterMs, target: `${host}:${addr.port}` };
}

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, host, () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test("a closed port: every connect fails as 'refused', exit 1", async (t) => {
  const port = await closedPort("127.0.0.41");
  const r = await runClient(t, ["--targets", `127.0.0.41:${port}`, "--connections", "20", "--hold-seconds", "0.2"]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.final?.final, true);
  assert.equal(r.final?.established, 0);
  assert.equal(r.final?.attempted, 20);
  assert.deepEqual(r.final?.failed, { timeout: 0, refused: 20, addrnotavail: 0, reset: 0, emfile: 0, other: 0 });
  assert.equal(r.final?.rampSeconds, null);
});

test("ramps, pings each socket about once per interval, counts drops, exits 0 on SIGTERM", async (t) => {
  const srv = await recordingServer(t, "127.0.0.42");
  const client = startClient(t, [
    "--targets",
    srv.target,
    "--connections",
    "50",
    "--ping-payload",
    "hi!",
    "--ping-interval-seconds",
    "1",
    "--status-interval-ms",
    "200",
    "--name",
    "t-client",
  ]);
  const ramped = await client.waitJson<ClientStatus>((s) => s.established === 50, 10_000, "50 established");
  assert.equal(ramped.client, "t-client");
  assert.equal(ramped.target, 50);
  assert.notEqual(ramped.rampSeconds, null);
  await waitUntil(() => srv.sockets.length === 50, 3000, "server saw 50");

  // Two ping ticks later every socket has had "hi!" at least once, and only whole pings: the
  // payload and its 8-byte send time (this server does not echo: no round trips).
  await sleep(2300);
  for (const s of srv.sockets) {
    const got = srv.received.get(s)!;
    assert.match(got, /^(hi![\s\S]{8})+$/, `socket got ${JSON.stringify(got)}`);
    assert.ok(got.length / 11 <= 3, `at most ~one ping per second, got ${got.length / 11} in 2.3 s`);
  }

  for (const s of srv.sockets.slice(0, 10)) s.destroy();
  const dropped = await client.waitJson<ClientStatus>((s) => s.dropped === 10, 3000, "10 dropped");
  assert.equal(dropped.established, 40);

  const { code } = await client.stop("SIGTERM");
  assert.equal(code, 0, "target had been reached: a signal is the normal end with --hold-seconds 0");
  const statuses = client.json<ClientStatus>();
  const final = statuses.at(-1)!;
  assert.equal(final.final, true);
  assert.equal(final.dropped, 10);
  assert.equal(statuses.filter((s) => s.final).length, 1);
  // One line per --status-interval-ms (200 ms) over ~3 s.
  assert.ok(statuses.length >= 10 && statuses.length <= 25, `${statuses.length} status lines`);
});

for (const [transport, env] of [
  ["bare TCP handles", {}],
  ["net.Socket", { C1M_CLIENT_NET_SOCKETS: "1" }],
] as const) {
  test(`on SIGTERM every connection is reset, none closed with FIN (${transport})`, async (t) => {
    const ends = { reset: 0, fin: 0 };
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on("end", () => ends.fin++);
      s.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ECONNRESET") ends.reset++;
      });
      s.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.43", () => resolve()));
    t.after(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    const port = (server.address() as net.AddressInfo).port;
    const client = startClient(t, ["--targets", `127.0.0.43:${port}`, "--connections", "300", "--ping-interval-seconds", "0"], {
      env,
    });
    await client.waitJson<ClientStatus>((s) => s.established === 300, 10_000, "300 established");
    const { code } = await client.stop("SIGTERM");
    assert.equal(code, 0);
    await waitUntil(() => ends.reset + ends.fin === 300, 5000, `300 closes seen (reset ${ends.reset}, FIN ${ends.fin})`);
    assert.deepEqual(ends, { reset: 300, fin: 0 });
  });
}

test("pings are heartbeats: a socket's first ping comes an interval after its connect, also mid-ramp", async (t) => {
  const srv = await recordingServer(t, "127.0.0.45");
  // A 2 s ramp (40 at 20/s) under a 1 s ping tick: sockets connect between ticks all along.
  const client = startClient(t, [
    "--targets",
    srv.target,
    "--connections",
    "40",
    "--connect-rate",
    "20",
    "--ping-interval-seconds",
    "1",
  ]);
  await client.waitJson<ClientStatus>((s) => s.established === 40, 10_000, "40 established");
  await waitUntil(() => srv.firstByteAfterMs.size === 40, 5000, "every socket pinged");
  const earliest = Math.min(...srv.firstByteAfterMs.values());
  assert.ok(earliest >= 900, `a socket was pinged ${earliest.toFixed(0)} ms after its connect (interval 1,000 ms)`);
  assert.ok(Math.max(...srv.firstByteAfterMs.values()) < 2500, "and none waited much more than an interval and a tick");
  await client.stop("SIGTERM");
});

test("a ramped client sleeps: no pacing tick once every connect has been started", async (t) => {
  const srv = await recordingServer(t, "127.0.0.48");
  const client = startClient(t, ["--targets", srv.target, "--connections", "30", "--ping-interval-seconds", "300"]);
  await client.waitJson<ClientStatus>((s) => s.established === 30, 10_000, "30 established");
  // Voluntary context switches of the main thread count its wakeups. Holding, it wakes for the
  // status line (1/s), the timeout sweep (4/s) and the ping tick (1/s); the 10 ms pacing tick
  // would add 100/s (51 idle clients polling that way took a third of a 2-core machine).
  const wakeups = (): number => {
    const status = readFileSync(`/proc/${client.child.pid}/status`, "utf8");
    return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
  };
  await sleep(300);
  const before = wakeups();
  await sleep(2000);
  const perSecond = (wakeups() - before) / 2;
  assert.ok(perSecond < 30, `${perSecond} wakeups/s while holding`);
  await client.stop("SIGTERM");
});

test("--connect-rate paces the ramp", async (t) => {
  const srv = await recordingServer(t, "127.0.0.43");
  const r = await runClient(t, [
    "--targets",
    srv.target,
    "--connections",
    "100",
    "--connect-rate",
    "200",
    "--hold-seconds",
    "0.1",
    "--ping-interval-seconds",
    "0",
  ]);
  assert.equal(r.code, 0, r.stderr);
  // 100 at 200/s is 0.5 s (a 4-token burst allowed); unpaced it would take a few ms.
  assert.ok(r.final!.rampSeconds! >= 0.4, `ramp took ${r.final!.rampSeconds} s`);
  assert.ok(r.final!.rampSeconds! < 3, `ramp took ${r.final!.rampSeconds} s`);
});

test("--retry, jitter none: at most three tries per connection in the first 1.2 s (no tight loop), then the target once the server appears", async (t) => {
  const host = "127.0.0.44";
  const port = await closedPort(host);
  const client = startClient(t, [
    "--targets",
    `${host}:${port}`,
    "--connections",
    "5",
    "--retry",
    "--reconnect-jitter",
    "none",
    "--hold-seconds",
    "0.3",
    "--status-interval-ms",
    "100",
  ]);
  await sleep(1200);
  await recordingServer(t, host, port);
  const { code } = await client.exited;
  assert.equal(code, 0, client.stderr);
  const final = client.json<ClientStatus>().at(-1)!;
  assert.equal(final.established, 5);
  // Tries at 0, 250, 750 and 1750 ms after the client starts: the first three are refused (the
  // second or third too late if the client took over 450 ms to start), the fourth finds the server.
  assert.ok(final.failed.refused >= 10 && final.failed.refused <= 15, `${final.failed.refused} refused`);
  assert.equal(final.attempted, final.failed.refused + 5);
});

test("SIGHUP: the client resets every connection (the server sees them reset, not closed), says so, stays up; SIGTERM then ends it", async (t) => {
  const srv = await recordingServer(t, "127.0.0.48");
  const resets: string[] = [];
  srv.server.on("connection", (s) => s.on("error", (e: NodeJS.ErrnoException) => resets.push(e.code ?? "")));
  const client = startClient(t, ["--targets", srv.target, "--connections", "30", "--ping-interval-seconds", "0"]);
  await waitUntil(() => srv.sockets.length === 30, 10_000, "30 connections");
  client.child.kill("SIGHUP");
  const said = await client.waitJson<{ type: string; connections?: number }>((l) => l.type === "reset", 5000, "the reset line");
  assert.equal(said.connections, 30);
  await waitUntil(() => resets.length === 30, 5000, "30 resets at the server");
  assert.deepEqual([...new Set(resets)], ["ECONNRESET"]);
  await sleep(1500);
  assert.ok(client.running, "still up after it reset everything (nothing else keeps Node alive)");
  const { code } = await client.stop("SIGTERM");
  assert.notEqual(code, null, "it exited on SIGTERM");
});

test("environment configures the client; a flag wins over its variable", async (t) => {
  const srv = await recordingServer(t, "127.0.0.45");
  const r = await runClient(t, ["--name", "from-flag", "--hold-seconds", "0.2"], {
    env: {
      C1M_TARGETS: srv.target,
      C1M_CONNECTIONS: "7",
      C1M_CLIENT_NAME: "from-env",
      C1M_HOLD_SECONDS: "bogus-but-overridden",
      C1M_PING_INTERVAL_SECONDS: "0",
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.final?.client, "from-flag");
  assert.equal(r.final?.target, 7);
  assert.equal(r.final?.established, 7);
});

test("more connections than 64 processes of its fd limit hold: refused with how many containers", async (t) => {
  // ulimit -n 110: 10 usable after the reserve; 1000 needs 100 processes, more than 64.
  const over = await runClient(t, ["--targets", "127.0.0.46:9", "--connections", "1000"], { nofile: 110 });
  assert.equal(over.code, 2);
  assert.match(
    over.stderr,
    /1000 connections need more than 64 processes here: open-file soft limit 110 minus 100 reserved = 10 sockets each\. Run more client containers \(C1M_CONNECTIONS=500 each in 2 or more\)/,
  );
  assert.equal(over.statuses.length, 0, "nothing attempted");
  // Exactly the usable count runs as one process (and fails on the closed port: exit 1, not 2).
  const port = await closedPort("127.0.0.46");
  const at = await runClient(t, ["--targets", `127.0.0.46:${port}`, "--connections", "400", "--hold-seconds", "0.1"], {
    nofile: 500,
  });
  assert.equal(at.code, 1, at.stderr);
  assert.equal(at.final?.failed.refused, 400);
});

test("bad input exits 2 with a message", async (t) => {
  for (const [args, pattern] of [
    [["--connections", "5"], /--targets/],
    [["--targets", "127.0.0.1:9000"], /--connections/],
    [["--targets", "localhost:9000", "--connections", "5"], /not IP:PORT/],
    [["--targets", "127.0.0.1:9000", "--connections", "0"], /out of range/],
    [["--targets", "127.0.0.1:9000", "--connections", "5", "--frobnicate"], /Unknown option/],
  ] as const) {
    const r = await runClient(t, [...args]);
    assert.equal(r.code, 2, `${args.join(" ")}`);
    assert.match(r.stderr, pattern);
  }
});

/** The pids of a process's children (its forked parts). */
function childPids(pid: number): number[] {
  const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return tasks === "" ? [] : tasks.split(" ").map(Number);
}

test("over its fd limit, 1,000 connections run as 3 processes: one status line for all, SIGHUP resets all 1,000 in one reset line, SIGTERM ends all three", async (t) => {
  const srv = await recordingServer(t, "127.0.0.49");
  const resets: string[] = [];
  srv.server.on("connection", (s) => s.on("error", (e: NodeJS.ErrnoException) => resets.push(e.code ?? "")));
  // ulimit -n 500: 400 sockets per process; 1,000 → 3 processes of 334, 333, 333.
  const client = startClient(
    t,
    ["--targets", srv.target, "--connections", "1000", "--ping-interval-seconds", "0", "--name", "c3"],
    {
      nofile: 500,
    },
  );
  const ramped = await client.waitJson<ClientStatus>((s) => s.established === 1000, 15_000, "1,000 established");
  assert.equal(ramped.client, "c3");
  assert.equal(ramped.target, 1000);
  assert.notEqual(ramped.rampSeconds, null);
  await waitUntil(() => srv.sockets.length === 1000, 5000, "the server saw 1,000");
  const parts = childPids(client.child.pid!);
  assert.equal(parts.length, 2, "two forked parts beside the first");
  const held = parts.map((p) => readdirSync(`/proc/${p}/fd`).length);
  assert.ok(
    held.every((n) => n > 333 && n < 400),
    `each part holds its third (fds: ${held.join(", ")})`,
  );
  assert.ok(
    client.json<ClientStatus>().every((s) => s.type !== "status" || s.target === 1000),
    "every line is the whole client's",
  );

  client.child.kill("SIGHUP");
  const said = await client.waitJson<{ type: string; connections?: number }>((l) => l.type === "reset", 5000, "the reset line");
  assert.equal(said.connections, 1000);
  await waitUntil(() => resets.length === 1000, 5000, "1,000 resets at the server");
  assert.deepEqual([...new Set(resets)], ["ECONNRESET"]);
  assert.equal(client.lines.filter((l) => l.includes('"type":"reset"')).length, 1, "one reset line");
  const finals = client.json<ClientStatus>().filter((s) => s.type === "status" && s.final);
  assert.deepEqual(
    finals.map((s) => [s.established, s.target]),
    [[1000, 1000]],
    "one final line, for all three",
  );
  assert.ok(client.running, "still up after the reset");
  const { code } = await client.stop("SIGTERM");
  assert.equal(code, 0);
  for (const p of parts) assert.equal(existsSync(`/proc/${p}`), false, `part ${p} ended`);
});

test("over its fd limit: a part that dies ends the client with exit 1, naming it", async (t) => {
  const srv = await recordingServer(t, "127.0.0.50");
  const client = startClient(t, ["--targets", srv.target, "--connections", "600", "--ping-interval-seconds", "0"], {
    nofile: 500,
  });
  await client.waitJson<ClientStatus>((s) => s.established === 600, 15_000, "600 established");
  const [part] = childPids(client.child.pid!);
  process.kill(part!, "SIGKILL");
  const { code } = await client.exited;
  assert.equal(code, 1);
  assert.match(client.stderr, /c1m-client: part 1 of 2 exited \(SIGKILL\): stopping/);
});

test("over its fd limit: find-limit steps reach every part (300 a step over 3 processes); SIGTERM then ends all with exit 0", async (t) => {
  const srv = await recordingServer(t, "127.0.0.51");
  const client = startClient(
    t,
    ["--targets", srv.target, "--connections", "900", "--step-connections", "300", "--ping-interval-seconds", "0"],
    { nofile: 500 },
  );
  await client.waitJson<ClientStatus>((s) => s.established === 300, 15_000, "the first step");
  await sleep(500);
  assert.equal(srv.sockets.length, 300, "no more than the first step");
  for (const n of [600, 900]) {
    client.child.kill("SIGUSR2");
    await client.waitJson<ClientStatus>((s) => s.established === n && s.target === n, 10_000, `the step to ${n}`);
  }
  await waitUntil(() => srv.sockets.length === 900, 5000, "the server saw 900");
  const { code } = await client.stop("SIGTERM");
  assert.equal(code, 0, client.stderr);
  const finals = client.json<ClientStatus>().filter((s) => s.type === "status" && s.final);
  assert.deepEqual(
    finals.map((s) => [s.established, s.target]),
    [[900, 900]],
  );
});

test("over its fd limit: a hold ends every part by itself, one final line for all, exit 0", async (t) => {
  const srv = await recordingServer(t, "127.0.0.52");
  const r = await runClient(
    t,
    ["--targets", srv.target, "--connections", "1000", "--hold-seconds", "1", "--ping-interval-seconds", "0"],
    {
      nofile: 500,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.statuses.filter((s) => s.final).map((s) => [s.established, s.target, s.failed.refused]),
    [[1000, 1000, 0]],
  );
});

test("over its fd limit: the first process killed (SIGKILL), its parts exit too instead of holding connections on", async (t) => {
  const srv = await recordingServer(t, "127.0.0.53");
  const client = startClient(t, ["--targets", srv.target, "--connections", "600", "--ping-interval-seconds", "0"], {
    nofile: 500,
  });
  await client.waitJson<ClientStatus>((s) => s.established === 600, 15_000, "600 established");
  const parts = childPids(client.child.pid!);
  assert.equal(parts.length, 1);
  client.child.kill("SIGKILL");
  await client.exited;
  await waitUntil(() => parts.every((p) => !existsSync(`/proc/${p}`)), 5000, "the part exited");
  await waitUntil(() => srv.sockets.every((s) => s.destroyed || s.readableEnded), 5000, "every connection closed at the server");
});
