// The one-file server (infra/install/bundle.ts), for real: built by esbuild from this
// checkout, copied alone into a directory with no node_modules anywhere above it, run there with
// two workers on loopback; /stats counts what the test opened, /metrics (prom-client, bundled)
// answers, SIGTERM stops the primary and its workers. Also: a second build is byte-identical and
// leaves the file alone; a missing entry or a package esbuild cannot find is a BundleError. Temp
// directories are removed in after(). Traffic: 127.0.0.1 only.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { BundleError, writeServerBundle, type ServerBundle } from "../../infra/install/bundle.js";
import type { ServerStats } from "../../shared/protocol.js";
import { pidAlive, Proc, sleep, waitUntil, type Listening } from "../support/workload-harness.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

describe("the server as one esbuild bundle", () => {
  let buildDir = "";
  let runDir = "";
  let bundle: ServerBundle;
  const stray: number[] = [];

  before(() => {
    buildDir = mkdtempSync(join(tmpdir(), "c1mt-bundle-build-"));
    runDir = mkdtempSync("/tmp/c1mt-bundle-run-");
    bundle = writeServerBundle(root, buildDir);
  });
  after(() => {
    // Left over only when a test failed midway (orphaned workers): ours if they still run the copy.
    for (const pid of stray) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${runDir}/c1m-server.mjs`)) process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });

  test("writes outDir/c1m-server.mjs; a second build has the same sha256 and does not touch the file; a changed file is rewritten", () => {
    assert.equal(bundle.path, `${buildDir}/c1m-server.mjs`);
    assert.match(bundle.sha256, /^[0-9a-f]{64}$/);
    const text = readFileSync(bundle.path, "utf8");
    assert.ok(text.startsWith("// c1m-lab connection server, bundled by esbuild"), text.slice(0, 200));
    assert.ok(text.includes("// node_modules/prom-client/"), "prom-client is inside");
    assert.ok(!text.includes(root), "no path of this checkout in the output");
    assert.ok(!text.includes("sourceMappingURL"), "no source map");
    const before = statSync(bundle.path);

    const again = writeServerBundle(root, buildDir);
    assert.deepEqual(again, bundle);
    const after = statSync(bundle.path);
    assert.equal(after.mtimeMs, before.mtimeMs, "not rewritten");
    assert.equal(after.ino, before.ino, "not replaced");

    writeFileSync(bundle.path, "// damaged\n");
    assert.deepEqual(writeServerBundle(root, buildDir), bundle);
    assert.equal(readFileSync(bundle.path, "utf8"), text, "rewritten when its bytes differ");
  });

  test(
    "runs alone with 2 workers: /stats counts the connections, /metrics answers, SIGTERM stops every process",
    { timeout: 60_000 },
    async () => {
      for (let d = runDir; ; d = dirname(d)) {
        assert.equal(existsSync(join(d, "node_modules")), false, `${d}/node_modules must not exist for this test`);
        if (d === "/") break;
      }
      copyFileSync(bundle.path, `${runDir}/c1m-server.mjs`);
      const child = spawn(
        process.execPath,
        [
          "c1m-server.mjs",
          "--port",
          "0",
          "--addresses",
          "127.0.0.1",
          "--workers",
          "2",
          "--metrics-port",
          "0",
          "--metrics-address",
          "127.0.0.1",
          "--backlog",
          "4096",
        ],
        // No NODE_PATH or NODE_OPTIONS: nothing but the file itself to load from.
        { cwd: runDir, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      );
      const proc = new Proc(child);
      const sockets: net.Socket[] = [];
      try {
        const info = await proc.waitJson<Listening>((v) => v.type === "listening", 15_000, "bundle listening line");
        stray.push(info.pid, ...info.workerPids);
        assert.equal(info.workerPids.length, 2);
        // The workers are forks of the same file.
        for (const pid of info.workerPids) {
          const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
          assert.ok(argv.includes(`${runDir}/c1m-server.mjs`), argv.join(" "));
          assert.ok(argv.includes("--expose-gc"), "workers get the worker V8 flags");
        }
        const [addr] = info.addresses as [string];
        assert.match(addr, /^127\.0\.0\.1:\d+$/);
        const port = Number(addr.split(":")[1]);

        for (let i = 0; i < 12; i++) {
          sockets.push(
            await new Promise<net.Socket>((resolve, reject) => {
              const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
              s.once("error", reject);
              s.setTimeout(10_000, () => reject(new Error("connect timed out")));
            }),
          );
        }
        const get = async (path: string) => {
          const r = await fetch(`http://${info.metrics}${path}`, { signal: AbortSignal.timeout(5000) });
          return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() };
        };
        let stats: ServerStats | undefined;
        const deadline = Date.now() + 10_000;
        for (;;) {
          const r = await get("/stats");
          assert.equal(r.status, 200, r.body);
          stats = JSON.parse(r.body) as ServerStats;
          if (stats.total === 12 || Date.now() > deadline) break;
          await sleep(100);
        }
        assert.equal(stats.total, 12, JSON.stringify(stats));
        assert.equal(stats.accepted, 12);
        assert.equal(stats.workers, 2);
        assert.deepEqual(stats.perLocalAddress, { [addr]: 12 });

        const m = await get("/metrics");
        assert.equal(m.status, 200);
        assert.match(m.type, /^text\/plain; version=0\.0\.4/);
        assert.ok(m.body.includes("# TYPE c1m_connections gauge"), m.body);
        assert.ok(m.body.includes(`c1m_connections{local_address="${addr}"} 12`), m.body);
        assert.ok(m.body.includes("c1m_workers 2"), m.body);

        const exit = await proc.stop("SIGTERM", 10_000);
        assert.deepEqual(exit, { code: 0, signal: null }, proc.stderr);
        await waitUntil(() => info.workerPids.every((pid) => !pidAlive(pid)), 5000, "workers gone");
        stray.length = 0;
        assert.match(proc.stderr, /c1m-server: stopping \(SIGTERM\)/);
      } finally {
        for (const s of sockets) s.destroy();
        await proc.stop("SIGKILL", 5000);
      }
    },
  );

  test("a root without workload/server.ts, or without the packages it imports: BundleError saying what to do", () => {
    const fake = mkdtempSync("/tmp/c1mt-bundle-fake-");
    try {
      assert.throws(
        () => writeServerBundle(fake, `${fake}/out`),
        (err: Error) =>
          err instanceof BundleError &&
          err.message === `${fake}/workload/server.ts is missing: bundling needs the root of a c1m-lab checkout, not ${fake}`,
      );
      mkdirSync(`${fake}/workload`);
      writeFileSync(`${fake}/workload/server.ts`, 'import { Registry } from "prom-client";\nconsole.log(new Registry());\n');
      assert.throws(
        () => writeServerBundle(fake, `${fake}/out`),
        (err: Error) =>
          err instanceof BundleError &&
          /^esbuild could not bundle workload\/server\.ts: workload\/server\.ts:1: Could not resolve "prom-client" \(run npm ci: /.test(
            err.message,
          ),
      );
      assert.equal(existsSync(`${fake}/out`), false, "nothing written");
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  });
});
