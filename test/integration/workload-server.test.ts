// The connection server for real, on loopback: exact per-address counts, the shared source
// port proof, resets/garbage/floods, several workers, metrics, clean stop, capacity refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { ClientStatus } from "../../shared/protocol.js";
import {
  pidAlive,
  rssKiB,
  runClient,
  spawnNode,
  startClient,
  startServer,
  waitUntil,
  SERVER_JS,
} from "../support/workload-harness.js";

const A = "127.0.0.2";
/** Workers hold connections as bare TCP handles; net.Socket is their fallback where Node lacks those. */
const ACCEPT_PATHS: Array<[string, Record<string, string>]> = [
  ["bare TCP handles", {}],
  ["net.Socket fallback", { C1M_SERVER_NET_SOCKETS: "1" }],
];
const B = "127.0.0.3";

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** Opens sockets from the test itself; resolves once all are connected. */
async function openSockets(
  opts: Array<{ host: string; port: number; localAddress?: string; localPort?: number }>,
): Promise<net.Socket[]> {
  return Promise.all(
    opts.map(
      (o) =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(o, () => resolve(s));
          s.on("error", reject);
        }),
    ),
  );
}

test("counts per local address and remote IP match what the client opened", async (t) => {
  const server = await startServer(t, ["--port", "0", "--addresses", `${A},${B}`, "--metrics-port", "0"]);
  assert.equal(server.info.addresses.length, 2);
  const [la, lb] = server.info.addresses as [string, string];
  assert.equal(server.info.metrics.split(":")[0], A, "metrics default to the first address");

  // 400 connections, round-robin over 2 targets × 2 source IPs: 100 per (target, source).
  const r = await runClient(t, [
    "--targets",
    `${la},${lb}`,
    "--connections",
    "400",
    "--source-addresses",
    "127.0.0.21,127.0.0.22",
    "--connect-rate",
    "20000",
    "--hold-seconds",
    "1.5",
    "--ping-interval-seconds",
    "0",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.final?.established, 400);
  // The client stops after holding; its connections must be gone from the server's count.
  const after = await server.waitStats((s) => s.total === 0, 5000, "all closed");
  assert.equal(after.accepted, 400);
  assert.equal(after.closed, 400);
  assert.deepEqual(after.perLocalAddress, { [la]: 0, [lb]: 0 });
  assert.deepEqual(after.perRemoteIp, {});
});

test("live /stats: exact per-address counts, samples, and a source port shared by two local addresses", async (t) => {
  const server = await startServer(t, ["--port", "0", "--addresses", `${A},${B}`, "--metrics-port", "0"]);
  const [la, lb] = server.info.addresses as [string, string];
  const src = "127.0.0.31";
  // Same source ports toward both local addresses (a 4-tuple stays unique): the article's proof.
  const shared = [41001, 41002, 41003];
  const sockets = await openSockets([
    ...shared.map((localPort) => ({ ...hostPort(la), localAddress: src, localPort })),
    ...shared.map((localPort) => ({ ...hostPort(lb), localAddress: src, localPort })),
    { ...hostPort(la), localAddress: src, localPort: 41010 }, // one address only: not shared
    ...Array.from({ length: 7 }, () => ({ ...hostPort(lb), localAddress: "127.0.0.32" })),
  ]);
  t.after(() => sockets.forEach((s) => s.destroy()));

  const s = await server.waitStats((x) => x.total === 14, 5000, "14 live");
  assert.deepEqual(s.perLocalAddress, { [la]: 4, [lb]: 10 });
  assert.deepEqual(s.perRemoteIp, { [src]: 7, "127.0.0.32": 7 });
  assert.deepEqual(s.sharedSourcePorts[src], { count: 3, example: { port: 41001, localAddresses: [la, lb] } });
  assert.deepEqual(s.sharedSourcePorts["127.0.0.32"], { count: 0 });
  assert.deepEqual(s.samples[la], [`${src}:41001`, `${src}:41002`, `${src}:41003`, `${src}:41010`]);
  assert.equal(s.samples[lb]?.length, 5, "at most five samples per local address");
  for (const sample of s.samples[lb]!) assert.match(sample, /^127\.0\.0\.3[12]:\d+$/);
  assert.equal(s.workers, 1);

  // Closing the shared ports toward one address ends the sharing.
  for (const sock of sockets.slice(3, 6)) sock.destroy();
  const s2 = await server.waitStats((x) => x.total === 11, 5000, "11 live");
  assert.deepEqual(s2.sharedSourcePorts[src], { count: 0 });
  assert.deepEqual(s2.perLocalAddress, { [la]: 4, [lb]: 7 });

  const metrics = await server.get("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, new RegExp(`c1m_connections\\{local_address="${la}"\\} 4\\n`));
  assert.match(metrics.body, new RegExp(`c1m_connections\\{local_address="${lb}"\\} 7\\n`));
  assert.match(metrics.body, /c1m_connections_by_remote_ip\{remote_ip="127\.0\.0\.32"\} 7\n/);
  assert.match(metrics.body, /c1m_accepted_total 14\n/);
  assert.match(metrics.body, /c1m_closed_total 3\n/);
  assert.match(metrics.body, /c1m_workers 1\n/);
  assert.deepEqual(await server.get("/healthz"), { status: 200, body: "ok" });
  assert.equal((await server.get("/nope")).status, 404);
});

for (const [path, env] of ACCEPT_PATHS) {
  test(`resets, half-closes, garbage and a data flood: count stays exact, memory bounded (${path})`, async (t) => {
    const server = await startServer(t, ["--port", "0", "--addresses", A, "--metrics-port", "0"], { env });
    const target = hostPort(server.info.addresses[0]!);
    const worker = server.info.workerPids[0]!;
    const sockets = await openSockets(Array.from({ length: 60 }, () => target));
    t.after(() => sockets.forEach((s) => s.destroy()));
    await server.waitStats((s) => s.total === 60, 5000, "60 live");
    const rssBefore = rssKiB(worker);

    // 10 resets (RST), 10 half-closes (FIN, our side stays readable), 10 garbage writers.
    for (const s of sockets.slice(0, 10)) s.resetAndDestroy();
    for (const s of sockets.slice(10, 20)) s.end();
    for (const s of sockets.slice(20, 30)) s.write(Buffer.from([0, 255, 13, 10, 0xde, 0xad, 0xbe, 0xef, 0x80, 0x1b]));
    // 4 sockets push 128 MiB each as fast as loopback takes it.
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const flooders = sockets.slice(30, 34);
    await Promise.all(
      flooders.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            let left = 128;
            const pump = (): void => {
              while (left > 0) {
                left--;
                if (!s.write(chunk)) return void s.once("drain", pump);
              }
              resolve();
            };
            s.on("error", reject);
            pump();
          }),
      ),
    );
    const s = await server.waitStats((x) => x.total === 40, 5000, "reset and half-closed ones gone");
    assert.equal(s.closed, 20);
    const grownKiB = rssKiB(worker) - rssBefore;
    // 512 MiB went through; keeping even half of one flooder's data would show. The rest is GC slack.
    assert.ok(grownKiB < 64 * 1024, `worker RSS grew ${grownKiB} KiB during a 512 MiB flood`);

    // The half-closed sockets were closed by the server too (it answered our FIN with its own).
    await waitUntil(() => sockets.slice(10, 20).every((x) => x.closed), 3000, "half-closed sockets closed");
    for (const x of sockets.slice(20)) x.destroy();
    const end = await server.waitStats((x) => x.total === 0, 5000, "all closed");
    assert.equal(end.accepted, 60);
    assert.equal(end.closed, 60);
    // The path under test is the one the worker took.
    const fellBack = server.proc.stderr.includes("one net.Socket per connection");
    assert.equal(fellBack, env.C1M_SERVER_NET_SOCKETS === "1", server.proc.stderr);
  });
}

test("three workers: /stats sums them, SIGTERM stops all within two seconds", async (t) => {
  const server = await startServer(t, ["--port", "0", "--addresses", `${A},${B}`, "--metrics-port", "0", "--workers", "3"]);
  assert.equal(server.info.workerPids.length, 3);
  const [la, lb] = server.info.addresses as [string, string];
  const r = runClient(t, [
    "--targets",
    `${la},${lb}`,
    "--connections",
    "900",
    "--connect-rate",
    "20000",
    "--hold-seconds",
    "2.5",
  ]);
  const s = await server.waitStats((x) => x.total === 900, 8000, "900 live");
  assert.equal(s.workers, 3);
  assert.deepEqual(s.perLocalAddress, { [la]: 450, [lb]: 450 });
  assert.deepEqual(s.perRemoteIp, { "127.0.0.1": 900 });
  assert.match((await server.get("/metrics")).body, /c1m_workers 3\n/);

  const started = Date.now();
  const { code } = await server.proc.stop("SIGTERM", 5000);
  assert.equal(code, 0, server.proc.stderr);
  assert.ok(Date.now() - started < 2500, `stopped in ${Date.now() - started} ms`);
  for (const pid of server.info.workerPids) assert.equal(pidAlive(pid), false, `worker ${pid} gone`);
  // The client sees its connections dropped.
  const result = await r;
  assert.equal(result.final?.dropped, 900);
  assert.equal(result.code, 1, "target not held");
});

test("workers at their fd limit stop accepting (no accept errors, nothing accepted dropped) and resume below it", async (t) => {
  // 400 fds − 100 reserved: each worker holds 300, so 600 of 650 connects are held. When both
  // workers are full, cluster closes the listener they shared: later connects are refused and
  // those still in its queue are reset, none accepted and then closed by the server.
  const server = await startServer(t, ["--port", "0", "--addresses", A, "--metrics-port", "0", "--workers", "2"], {
    nofile: 400,
  });
  const target = server.info.addresses[0]!;
  const args = ["--targets", target, "--ping-interval-seconds", "0", "--connect-timeout-ms", "2000"];
  const first = startClient(t, [...args, "--connections", "650"]);
  // Queued connections are established for the client until the listener's close resets them.
  await first.waitJson<ClientStatus>(
    (s) =>
      s.inFlight === 0 &&
      s.attempted === 650 &&
      s.established === 600 &&
      s.established + s.dropped + s.failed.refused + s.failed.reset + s.failed.timeout === 650,
    15_000,
    "600 established, the other 50 refused, reset or dropped from the queue",
  );
  const full = await server.waitStats((s) => s.total === 600, 5000, "600 held");
  assert.deepEqual([full.accepted, full.closed, full.acceptErrors, full.workersAtCapacity], [600, 0, 0, 2]);

  await first.stop("SIGTERM");
  const drained = await server.waitStats((s) => s.total === 0 && s.workersAtCapacity === 0, 10_000, "workers below their limit");
  assert.equal(drained.closed, drained.accepted);
  // Listening again (a moment after resuming, hence --retry): a new client gets all 100.
  const second = await runClient(t, [...args, "--connections", "100", "--hold-seconds", "0.5", "--retry"]);
  assert.equal(
    second.code,
    0,
    `${JSON.stringify(second.statuses.at(-1))} ${second.stderr} ${JSON.stringify(await server.stats())}`,
  );
  assert.equal(second.final?.established, 100);
});

test("--expect-connections beyond one worker's fd capacity is refused with a clear message", async (t) => {
  const p = spawnNode(t, [SERVER_JS, "--port", "0", "--metrics-port", "0", "--addresses", A, "--expect-connections", "50000"], {
    nofile: 10_100,
  });
  const { code } = await p.exited;
  assert.equal(code, 2);
  // 10,100 fds − 100 reserve = 10,000 per worker: 50,000 needs 5 workers.
  assert.match(p.stderr, /50000 .*1 worker\(s\).*can hold 10000.*--workers 5/s);
  const ok = await startServer(
    t,
    ["--port", "0", "--metrics-port", "0", "--addresses", A, "--expect-connections", "50000", "--workers", "5"],
    {
      nofile: 10_100,
    },
  );
  assert.equal(ok.info.capacityPerWorker, 10_000);
  assert.equal((await ok.stats()).workers, 5);
  await ok.proc.stop();
});

test("bad flags exit 2; --help exits 0", async (t) => {
  const bad = spawnNode(t, [SERVER_JS, "--backlog", "100"]);
  assert.equal((await bad.exited).code, 2);
  assert.match(bad.stderr, /--backlog/);
  const help = spawnNode(t, [SERVER_JS, "--help"]);
  assert.equal((await help.exited).code, 0);
  assert.match(help.lines.join("\n"), /--expect-connections/);
});
