// The bundles the program stages (infra/install/stage.ts) run alone, each copied into a directory
// with no node_modules above it, as they are installed: the connection test (vega, dockerode
// inside; the dashboard's uPlot served from inside it; a relative --reports-dir resolved where it
// runs, through a link to its real place), the client. Also: staging twice gives the same paths,
// named by content. Traffic: 127.0.0.1 only; temp directories removed in after().
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { stageWorkload } from "../../infra/install/stage.js";
import type { StagedWorkload } from "../../infra/plan/paths.js";
import { loadFixture } from "../unit/verify-fixtures.js";
import type { ServerStats } from "../../shared/protocol.js";
import { FAST_VERIFY } from "../support/verifyFlags.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const nodeModule = createRequire(join(root, "package.json"));

describe("the staged bundles, each alone", () => {
  let stageRoot = "";
  let runDir = "";
  let staged: StagedWorkload;

  before(() => {
    stageRoot = mkdtempSync(join(tmpdir(), "c1mt-stage-"));
    runDir = mkdtempSync("/tmp/c1mt-install-run-");
    for (let d = runDir; ; d = dirname(d)) {
      assert.equal(existsSync(join(d, "node_modules")), false, `${d}/node_modules must not exist for this test`);
      if (d === "/") break;
    }
    staged = stageWorkload(root, stageRoot);
  });
  after(() => {
    rmSync(stageRoot, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });

  test("staged by content: <stage>/<sha256>/<file>; staging again (a fresh process would) gives the same", () => {
    for (const [b, file] of [
      [staged.server, "c1m-server.mjs"],
      [staged.verify, "c1m-verify.mjs"],
    ] as const) {
      assert.equal(b.path, `${stageRoot}/${b.sha256}/${file}`);
    }
    assert.equal(staged.clientImage.context, `${stageRoot}/${staged.clientImage.sha256}`);
    rmSync(staged.verify.path); // gone: staged anew
    assert.deepEqual(stageWorkload(root, stageRoot), staged);
    assert.ok(existsSync(staged.verify.path));
  });

  test("verify: --help, and a run whose dashboard serves uPlot from inside the bundle, its report where reports/ leads", async (t) => {
    const dir = join(runDir, "verify");
    mkdirSync(dir);
    copyFileSync(staged.verify.path, join(dir, "c1m-verify.mjs"));
    const help = await run(dir, ["c1m-verify.mjs", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--metrics-url URL/);

    const fx = loadFixture("nat-pool-1ip");
    const stats = await statsServer(fx.run.observations.map((o) => o.server!));
    t.after(() => new Promise<void>((r) => stats.close(() => r())));
    // reports/ is a link, as in lab:up's engine work directory.
    const realReports = join(runDir, "real-reports");
    mkdirSync(realReports);
    symlinkSync(realReports, join(dir, "reports"));
    const child = spawn(
      process.execPath,
      [
        "c1m-verify.mjs",
        "--metrics-url",
        `http://127.0.0.1:${(stats.address() as AddressInfo).port}`,
        "--expect",
        "plateau",
        ...FAST_VERIFY,
        "--stack",
        "itest",
        "--reports-dir",
        "reports",
        "--dashboard",
        "127.0.0.1:0",
        "--dashboard-linger-seconds",
        "3",
      ],
      { cwd: dir, env: { ...process.env, C1M_PLAN: JSON.stringify(fx.plan) } },
    );
    t.after(() => child.exitCode === null && child.kill("SIGKILL")); // a failed assertion leaves it running
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard address in 15 s:\n${stderr}`)), 15_000);
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /live dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    for (const [path, file, type] of [
      ["uPlot.iife.min.js", "uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
      ["uPlot.min.css", "uplot/dist/uPlot.min.css", "text/css; charset=utf-8"],
    ] as const) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), type);
      assert.equal(await res.text(), readFileSync(nodeModule.resolve(file), "utf8"), `${path}: the package's file`);
    }
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout) as { verdict: string; reportDir: string };
    assert.equal(out.verdict, "plateau-as-expected");
    assert.equal(dirname(out.reportDir), join(realpathSync(realReports), "itest"), "the report's real place");
    assert.ok(existsSync(join(out.reportDir, "report.json")));
  });

  test("client: --help, alone", async () => {
    const dir = join(runDir, "client");
    mkdirSync(dir);
    copyFileSync(join(staged.clientImage.context, "c1m-client.mjs"), join(dir, "c1m-client.mjs"));
    const help = await run(dir, ["c1m-client.mjs", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--connections N/);
  });
});

function run(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** Serves snapshot k to the k-th GET /stats (the last one repeats). */
async function statsServer(snapshots: ServerStats[]): Promise<Server> {
  let k = 0;
  const server = createServer((req, res) => {
    if (req.url !== "/stats") return void res.writeHead(404).end();
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify(snapshots[Math.min(k++, snapshots.length - 1)]));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}
