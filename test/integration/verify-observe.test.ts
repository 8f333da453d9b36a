// The observer's I/O: /stats over HTTP on 127.0.0.1, the Docker API (a fake one on a unix socket
// with canned answers, and the real daemon), conntrack from a fake /proc tree and from
// the real one (read only).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import Docker from "dockerode";
import { observeClients } from "../../workload/verify/dockerClients.js";
import { createObserver, fetchStats, readLocalConntrack } from "../../workload/verify/observe.js";
import { loadFixture } from "../unit/verify-fixtures.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";

const execFileP = promisify(execFile);
const STATS = loadFixture("three-ips-pass").run.observations.at(-1)!.server!;

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ base: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));

interface FakeContainer {
  id: string;
  name: string;
  restartCount: number;
  state: { Status: string; ExitCode: number; OOMKilled: boolean };
  stdout: string;
  stderr: string;
  /** CPU time (ns) its stats report, and its --cpus (NanoCpus). */
  cpuNs: number;
  nanoCpus: number;
}

/** A stand-in Docker Engine API on a unix socket: list, inspect, logs and stats from canned containers; records each request. */
async function fakeDockerApi(t: TestContext, containers: FakeContainer[]): Promise<{ docker: Docker; calls: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "c1m-verify-docker-"));
  const socketPath = join(dir, "docker.sock");
  const calls: string[] = [];
  const frame = (stream: number, text: string) => {
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(Buffer.byteLength(text), 4);
    return Buffer.concat([header, Buffer.from(text)]);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://docker");
    const path = url.pathname.replace(/^\/v[\d.]+/, "");
    calls.push(
      `${req.method} ${path}${path === "/containers/json" ? ` all=${url.searchParams.get("all")} filters=${url.searchParams.get("filters")}` : ""}${path.endsWith("/logs") ? ` tail=${url.searchParams.get("tail")}` : ""}${path.endsWith("/stats") ? ` stream=${url.searchParams.get("stream")} one-shot=${url.searchParams.get("one-shot")}` : ""}`,
    );
    if (path === "/containers/json") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(containers.map((c) => ({ Id: c.id, Names: [`/${c.name}`], State: c.state.Status }))));
    }
    const m = /^\/containers\/([^/]+)\/(json|logs|stats)$/.exec(path);
    const c = containers.find((x) => x.id === m?.[1]);
    if (!m || !c) return res.writeHead(404, { "content-type": "application/json" }).end('{"message":"No such container"}');
    if (m[2] === "json") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(
        JSON.stringify({
          Id: c.id,
          Name: `/${c.name}`,
          RestartCount: c.restartCount,
          State: c.state,
          HostConfig: { NanoCpus: c.nanoCpus },
        }),
      );
    }
    if (m[2] === "stats") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ cpu_stats: { cpu_usage: { total_usage: c.cpuNs } } }));
    }
    res.writeHead(200, { "content-type": "application/vnd.docker.multiplexed-stream" });
    res.end(Buffer.concat([frame(1, c.stdout), frame(2, c.stderr)]));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(async () => {
    await close(server);
    await rm(dir, { recursive: true, force: true });
  });
  return { docker: new Docker({ socketPath }), calls };
}

const statusLine = (client: string, established: number) =>
  JSON.stringify({
    type: "status",
    client,
    target: 100,
    established,
    inFlight: 2,
    attempted: established + 3,
    failed: { timeout: 1, refused: 0, addrnotavail: 0, reset: 0, emfile: 2, other: 0 },
    dropped: 0,
    rate: 10,
    elapsedSeconds: 9,
    rampSeconds: null,
    final: false,
  });

describe("verify observe (integration)", () => {
  it("fetches and validates /stats, and names what went wrong otherwise", async (t) => {
    const { base, server } = await listen((req, res) => {
      if (req.url === "/stats") res.writeHead(200).end(JSON.stringify(STATS));
      else if (req.url === "/text") res.writeHead(200).end("hello");
      else if (req.url === "/shape") res.writeHead(200).end(JSON.stringify({ total: "many" }));
      else if (req.url === "/slow") setTimeout(() => res.writeHead(200).end("{}"), 600);
      else res.writeHead(500).end();
    });
    t.after(() => {
      server.closeAllConnections();
      return close(server);
    });
    const ok = await fetchStats(`${base}/stats`);
    assert.ok(ok.ok);
    assert.deepEqual(ok.stats, STATS);
    assert.deepEqual(await fetchStats(`${base}/text`), { ok: false, error: `${base}/text did not return JSON` });
    const shape = await fetchStats(`${base}/shape`);
    assert.ok(
      !shape.ok && shape.error.startsWith(`${base}/shape returned an invalid ServerStats:`) && shape.error.includes("total"),
      JSON.stringify(shape),
    );
    assert.deepEqual(await fetchStats(`${base}/oops`), { ok: false, error: `HTTP 500 from ${base}/oops` });
    assert.deepEqual(await fetchStats(`${base}/slow`, 100), { ok: false, error: "no answer within 100 ms" });

    const closed = await listen(() => {});
    const port = new URL(closed.base).port;
    await close(closed.server);
    assert.deepEqual(await fetchStats(`${closed.base}/stats`), { ok: false, error: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it("reads client containers through the Docker API: state, restarts, last status line, last error", async (t) => {
    const { docker, calls } = await fakeDockerApi(t, [
      {
        id: "aaaaaaaaaaaa1111",
        name: "c1m-client-0",
        restartCount: 0,
        state: { Status: "running", ExitCode: 0, OOMKilled: false },
        stdout: `${statusLine("c1m-client-0", 40)}\n${statusLine("c1m-client-0", 41)}\n`,
        stderr: "",
        cpuNs: 1_500_000_000,
        nanoCpus: 500_000_000,
      },
      {
        id: "bbbbbbbbbbbb2222",
        name: "c1m-client-1",
        restartCount: 2,
        state: { Status: "exited", ExitCode: 137, OOMKilled: true },
        stdout: `${statusLine("c1m-client-1", 7)}\n`,
        stderr: "warning: x\nFATAL ERROR: heap out of memory\n",
        cpuNs: 9_000_000_000,
        nanoCpus: 0,
      },
    ]);
    const r = await observeClients("c1m-lab.stack=dev", { docker });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(
      r.clients.map((c) => [
        c.name,
        c.id,
        c.state,
        c.exitCode,
        c.restartCount,
        c.oomKilled,
        c.status?.established,
        c.status?.failed.emfile,
        c.lastError,
        c.cpu,
      ]),
      [
        ["c1m-client-0", "aaaaaaaaaaaa", "running", 0, 0, false, 41, 2, null, { usageSeconds: 1.5, limitCpus: 0.5 }],
        // A container that is not running: no CPU asked for.
        ["c1m-client-1", "bbbbbbbbbbbb", "exited", 137, 2, true, 7, 2, "FATAL ERROR: heap out of memory", undefined],
      ],
    );
    assert.equal(calls[0], 'GET /containers/json all=true filters={"label":["c1m-lab.stack=dev"]}');
    assert.deepEqual(calls.slice(1).sort(), [
      "GET /containers/aaaaaaaaaaaa1111/json",
      "GET /containers/aaaaaaaaaaaa1111/logs tail=5",
      "GET /containers/aaaaaaaaaaaa1111/stats stream=false one-shot=true",
      "GET /containers/bbbbbbbbbbbb2222/json",
      "GET /containers/bbbbbbbbbbbb2222/logs tail=5",
    ]);
  });

  it("reports a Docker daemon it cannot reach as an error (not a throw)", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-docker-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, "no-daemon.sock");
    assert.deepEqual(await observeClients("x=y", { docker: new Docker({ socketPath }) }), {
      ok: false,
      error: `docker: listing containers failed: connect ENOENT ${socketPath}`,
    });
  });

  it("finds no containers for a label nothing has (real docker)", async () => {
    const r = await observeClients(`c1m-lab.verify-test=${process.pid}-${Date.now()}`);
    assert.deepEqual(r, { ok: true, clients: [] });
  });

  it("reads real containers: a running client's status line, an exited one's code and last error", async (t) => {
    // The lab's own offline base image (this machine's node); C1M_TEST_NODE_IMAGE may name another.
    const image = process.env.C1M_TEST_NODE_IMAGE ?? ensureLocalNodeBase();
    const label = `c1m-lab.verify-test=${process.pid}-${Date.now()}`;
    const names = [`c1m-verify-test-${process.pid}-0`, `c1m-verify-test-${process.pid}-1`];
    t.after(() => execFileP("docker", ["rm", "-f", ...names]).catch(() => {}));
    const run = (name: string, script: string) =>
      execFileP("docker", ["run", "-d", "--network", "none", "--label", label, "--name", name, image, "node", "-e", script]);
    await run(names[0]!, `console.log(${JSON.stringify(statusLine(names[0]!, 42))}); setTimeout(() => {}, 60000);`);
    await run(
      names[1]!,
      `console.log(${JSON.stringify(statusLine(names[1]!, 5))}); console.error("giving up: EMFILE"); process.exit(3);`,
    );
    // Bounded wait for both to have printed (and the second to have exited).
    let r: Awaited<ReturnType<typeof observeClients>> = { ok: false, error: "not polled" };
    for (let i = 0; i < 40; i++) {
      r = await observeClients(label);
      if (r.ok && r.clients.length === 2 && r.clients.every((c) => c.status) && r.clients.some((c) => c.state === "exited"))
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(r.ok, JSON.stringify(r));
    const byName = Object.fromEntries(r.clients.map((c) => [c.name, c]));
    assert.deepEqual(
      [byName[names[0]!]?.state, byName[names[0]!]?.status?.established, byName[names[0]!]?.lastError],
      ["running", 42, null],
    );
    // The daemon's own reading of the running one's cgroup: some CPU time, no limit.
    const cpu = byName[names[0]!]?.cpu;
    assert.ok(cpu !== undefined && cpu.usageSeconds > 0 && cpu.limitCpus === null, JSON.stringify(cpu));
    assert.deepEqual(
      [
        byName[names[1]!]?.state,
        byName[names[1]!]?.exitCode,
        byName[names[1]!]?.status?.established,
        byName[names[1]!]?.lastError,
      ],
      ["exited", 3, 5, "giving up: EMFILE"],
    );
  });

  it("reads conntrack from a /proc tree, and says when there is none", async (t) => {
    const root = await mkdtemp(join(tmpdir(), "c1m-verify-proc-"));
    t.after(() => rm(root, { recursive: true, force: true }));
    assert.deepEqual(await readLocalConntrack(root), {
      ok: false,
      error: "nf_conntrack is not loaded here (no /proc/sys/net/netfilter/nf_conntrack_count)",
    });
    await mkdir(join(root, "sys/net/netfilter"), { recursive: true });
    await mkdir(join(root, "net/stat"), { recursive: true });
    await writeFile(join(root, "sys/net/netfilter/nf_conntrack_count"), "65536\n");
    await writeFile(join(root, "sys/net/netfilter/nf_conntrack_max"), "65536\n");
    await writeFile(
      join(root, "net/stat/nf_conntrack"),
      "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n" +
        "00010000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000064 000003e8 00000001 00000000  00000000 00000000 00000000 00000000\n" +
        "00010000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000002 00000003 00000000  00000000 00000000 00000000 00000005\n",
    );
    assert.deepEqual(await readLocalConntrack(root), {
      ok: true,
      reading: { count: 65_536, max: 65_536, insertFailed: 101, drop: 1_002, earlyDrop: 4, searchRestart: 5 },
    });
  });

  it("reads this machine's conntrack (read only)", async () => {
    const r = await readLocalConntrack();
    let max: number | null = null;
    try {
      max = Number((await readFile("/proc/sys/net/netfilter/nf_conntrack_max", "utf8")).trim());
    } catch {
      // no conntrack module: the reader must say so
    }
    if (max === null) {
      assert.ok(!r.ok);
    } else {
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.reading.max, max);
      assert.ok(Number.isInteger(r.reading.count) && r.reading.count >= 0 && Number.isInteger(r.reading.insertFailed));
    }
  });

  it("one poll joins the three views", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-observe-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { base, server } = await listen((_req, res) => res.writeHead(200).end(JSON.stringify(STATS)));
    t.after(() => close(server));
    const { docker } = await fakeDockerApi(t, [
      {
        id: "cccccccccccc3333",
        name: "c1m-client-0",
        restartCount: 0,
        state: { Status: "running", ExitCode: 0, OOMKilled: false },
        stdout: `${statusLine("c1m-client-0", 99)}\n`,
        stderr: "",
        cpuNs: 0,
        nanoCpus: 0,
      },
    ]);
    const observe = createObserver({
      metricsUrl: base,
      clientsLabel: "c1m-lab.stack=dev",
      conntrack: "local",
      docker,
      procRoot: join(dir, "no-proc"),
    });
    const o = await observe();
    assert.equal(o.server?.total, 144_000);
    assert.equal(o.serverError, null);
    assert.equal(o.clients?.[0]?.status?.established, 99);
    assert.equal(o.conntrack, null);
    assert.match(o.conntrackError!, /nf_conntrack is not loaded/);
    const none = await createObserver({ metricsUrl: base, clientsLabel: null, conntrack: "none" })();
    assert.deepEqual([none.clients, none.clientsError, none.conntrack, none.conntrackError], [null, null, null, null]);
  });
});
