// The observer's I/O: /stats over HTTP on 127.0.0.1, the docker CLI (a fake one with canned
// output, and the real one with a label nothing has), conntrack from a fake /proc tree and from
// the real one (read only).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { createObserver, fetchStats, observeClients, readLocalConntrack } from "../../workload/verify/observe.js";
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

/** A stand-in `docker` that answers ps / inspect / logs from files in its directory. */
async function fakeDocker(
  dir: string,
  files: { ps: string; inspect: string; logs: Record<string, { out: string; err: string }> },
  psExit = 0,
): Promise<string> {
  await writeFile(join(dir, "ps.out"), files.ps);
  await writeFile(join(dir, "inspect.out"), files.inspect);
  for (const [id, l] of Object.entries(files.logs)) {
    await writeFile(join(dir, `logs-${id}.out`), l.out);
    await writeFile(join(dir, `logs-${id}.err`), l.err);
  }
  const bin = join(dir, "docker");
  await writeFile(
    bin,
    `#!/bin/sh
D=$(dirname "$0")
echo "$*" >> "$D/calls"
case "$1" in
  ps) if [ ${psExit} -ne 0 ]; then echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit ${psExit}; fi; cat "$D/ps.out" ;;
  inspect) cat "$D/inspect.out" ;;
  logs) id=$4; cat "$D/logs-$id.out"; cat "$D/logs-$id.err" >&2 ;;
esac
`,
  );
  await chmod(bin, 0o755);
  return bin;
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

  it("reads client containers through the docker CLI: state, restarts, last status line, last error", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-docker-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const docker = await fakeDocker(dir, {
      ps: '{"ID":"aaaaaaaaaaaa1111","Names":"c1m-client-0","State":"running"}\n{"ID":"bbbbbbbbbbbb2222","Names":"c1m-client-1","State":"exited"}\n',
      inspect: JSON.stringify([
        {
          Id: "aaaaaaaaaaaa1111",
          Name: "/c1m-client-0",
          RestartCount: 0,
          State: { Status: "running", ExitCode: 0, OOMKilled: false },
        },
        {
          Id: "bbbbbbbbbbbb2222",
          Name: "/c1m-client-1",
          RestartCount: 2,
          State: { Status: "exited", ExitCode: 137, OOMKilled: true },
        },
      ]),
      logs: {
        aaaaaaaaaaaa1111: { out: `${statusLine("c1m-client-0", 40)}\n${statusLine("c1m-client-0", 41)}\n`, err: "" },
        bbbbbbbbbbbb2222: { out: `${statusLine("c1m-client-1", 7)}\n`, err: "warning: x\nFATAL ERROR: heap out of memory\n" },
      },
    });
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
      ]),
      [
        ["c1m-client-0", "aaaaaaaaaaaa", "running", 0, 0, false, 41, 2, null],
        ["c1m-client-1", "bbbbbbbbbbbb", "exited", 137, 2, true, 7, 2, "FATAL ERROR: heap out of memory"],
      ],
    );
    const calls = (await readFile(join(dir, "calls"), "utf8")).trim().split("\n");
    assert.equal(calls[0], "ps -a --no-trunc --filter label=c1m-lab.stack=dev --format {{json .}}");
    assert.equal(calls[1], "inspect aaaaaaaaaaaa1111 bbbbbbbbbbbb2222");
    assert.deepEqual(calls.slice(2).sort(), ["logs --tail 5 aaaaaaaaaaaa1111", "logs --tail 5 bbbbbbbbbbbb2222"]);
  });

  it("reports a docker that cannot reach its daemon, or is missing, as an error (not a throw)", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-docker-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const docker = await fakeDocker(dir, { ps: "", inspect: "", logs: {} }, 1);
    assert.deepEqual(await observeClients("x=y", { docker }), {
      ok: false,
      error:
        "docker ps failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    });
    assert.deepEqual(await observeClients("x=y", { docker: join(dir, "no-such-docker") }), {
      ok: false,
      error: `docker ps failed: ${join(dir, "no-such-docker")} not found on PATH`,
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
    const docker = await fakeDocker(dir, {
      ps: '{"ID":"cccccccccccc3333","Names":"c1m-client-0"}\n',
      inspect: JSON.stringify([
        { Id: "cccccccccccc3333", Name: "/c1m-client-0", RestartCount: 0, State: { Status: "running", ExitCode: 0 } },
      ]),
      logs: { cccccccccccc3333: { out: `${statusLine("c1m-client-0", 99)}\n`, err: "" } },
    });
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
