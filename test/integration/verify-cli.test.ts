// The connection test as the stack runs it: `node dist/workload/verify.js` as a child process
// against a fake metrics server on 127.0.0.1 that replays recorded /stats snapshots (growing,
// then flat), with no client containers (a label that matches nothing) and no conntrack.
// Checks stdout (only the JSON), stderr (progress, diagnosis), exit codes and the files.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { XMLParser } from "fast-xml-parser";
import type { ServerStats } from "../../shared/protocol.js";
import { loadFixture } from "../unit/verify-fixtures.js";
import { FAST_VERIFY } from "../support/verifyFlags.js";

const VERIFY = fileURLToPath(new URL("../../workload/verify.js", import.meta.url));

interface Child {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runVerify(args: string[], env: Record<string, string> = {}): Promise<Child> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VERIFY, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** Serves snapshot k to the k-th GET /stats (the last one repeats). */
async function statsServer(snapshots: ServerStats[]): Promise<{ url: string; server: Server; hits: () => number }> {
  let k = 0;
  const server = createServer((req, res) => {
    if (req.url !== "/stats") {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.stringify(snapshots[Math.min(k++, snapshots.length - 1)]);
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => k };
}

const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await close(s);
  return port;
}

const NONCE = `c1m-lab.verify-test=${process.pid}-${Date.now()}`;
const FAST = [...FAST_VERIFY, "--clients-label", NONCE];

describe("verify CLI (integration)", { timeout: 25_000 }, () => {
  it("judges a replayed NAT wall: plateau-as-expected (exit 0) and fail with expect=all (exit 1), writing the report", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-cli-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fx = loadFixture("nat-pool-1ip");
    const snapshots = fx.run.observations.map((o) => o.server!);
    const planFile = join(dir, "plan.json");
    await writeFile(planFile, JSON.stringify(fx.plan));
    const a = await statsServer(snapshots);
    const b = await statsServer(snapshots);
    t.after(() => Promise.all([close(a.server), close(b.server)]));

    const started = Date.now();
    const [plateau, all] = await Promise.all([
      runVerify([
        "--plan",
        planFile,
        "--metrics-url",
        a.url,
        "--expect",
        "plateau",
        "--stack",
        "itest",
        "--reports-dir",
        join(dir, "reports"),
        ...FAST,
      ]),
      // The plan through C1M_PLAN, as the Pulumi command passes it.
      runVerify(
        ["--metrics-url", b.url, "--expect", "all", "--stack", "itest-all", "--reports-dir", join(dir, "reports"), ...FAST],
        { C1M_PLAN: JSON.stringify(fx.plan) },
      ),
    ]);
    assert.ok(Date.now() - started < 15_000, "stops on the stall, well before the timeout");

    // expect=plateau
    assert.equal(plateau.code, 0, plateau.stderr);
    const out = JSON.parse(plateau.stdout); // stdout is one JSON document and nothing else
    assert.equal(out.verdict, "plateau-as-expected");
    assert.equal(out.limit, "nat-pool");
    assert.equal(out.stopReason, "stall");
    assert.equal(out.total, 64_512);
    assert.equal(out.target, 80_000);
    assert.equal(out.predicted, 64_512);
    assert.equal(out.bindingLimit, "nat-pool");
    assert.deepEqual(out.perServerIp, { "10.201.0.2": 64_512 });
    assert.deepEqual(out.perClient, {});
    assert.equal(out.conntrack, null);
    assert.equal(out.rampSeconds !== null && out.rampSeconds > 0, true);
    assert.match(
      out.diagnosis,
      /^Plateau at 64,512 of 80,000 connections = the NAT source-port pool 1024–65535 \(64,512 ports\) for 1 client IP × 1 server IP:9000; add server IPs/,
    );
    assert.ok(
      out.warnings.includes(
        `no client containers found with label ${NONCE}: judged on the server view alone (no per-client table, no cross-check).`,
      ),
      out.warnings.join("\n"),
    );
    assert.ok(a.hits() >= 12, "polled through the ramp");

    const progress = plateau.stderr.split("\n").filter((l) => l.startsWith("[verify"));
    assert.ok(progress.length >= 10, plateau.stderr);
    assert.match(
      progress[1]!,
      /^\[verify +0\.\ds\] 18,000\/80,000 \(22\.5%\) .*\| 10\.201\.0\.2 18,000 \| no client containers$/,
    );
    assert.match(plateau.stderr, /verify: PLATEAU-AS-EXPECTED — Plateau at 64,512/);
    assert.deepEqual(
      plateau.stderr.split("\n").filter((l) => l.length > 160),
      [],
      "every line fits a terminal (the diagnosis is wrapped)",
    );

    assert.match(out.reportDir, /\/reports\/itest\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
    assert.deepEqual((await readdir(out.reportDir)).sort(), ["ramp.svg", "report.json", "report.md"]);
    const report = JSON.parse(await readFile(join(out.reportDir, "report.json"), "utf8"));
    assert.deepEqual(report.output, out);
    assert.equal(report.timeline.length, progress.length);
    const md = await readFile(join(out.reportDir, "report.md"), "utf8");
    assert.match(md, /^\| 10\.201\.0\.2 +\| +64,512 \| +64,512 \| +80,000 \| +64,512 \| +100\.0% \| +0 \|$/m);
    const svg = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_" }).parse(
      await readFile(join(out.reportDir, "ramp.svg"), "utf8"),
      true,
    );
    assert.ok(svg.svg, "ramp.svg is an SVG document");

    // expect=all: the same wall is a failure, with the diagnosis on stderr and the report written.
    assert.equal(all.code, 1, all.stderr);
    const failed = JSON.parse(all.stdout);
    assert.equal(failed.verdict, "fail");
    assert.equal(failed.limit, "nat-pool");
    assert.match(all.stderr, /verify: FAIL — Plateau at 64,512 of 80,000 connections = the NAT source-port pool/);
    assert.match(failed.reportDir, /\/reports\/itest-all\//);
    assert.deepEqual((await readdir(failed.reportDir)).sort(), ["ramp.svg", "report.json", "report.md"]);
  });

  it("diagnoses an unreachable server after the timeout (exit 1)", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-cli-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const planFile = join(dir, "plan.json");
    await writeFile(planFile, JSON.stringify(loadFixture("three-ips-pass").plan));
    const port = await freePort();
    const r = await runVerify([
      "--plan",
      planFile,
      "--metrics-url",
      `http://127.0.0.1:${port}`,
      "--reports-dir",
      dir,
      "--stack",
      "down",
      "--interval-seconds",
      "0.25",
      "--stall-seconds",
      "0.5",
      "--timeout-seconds",
      "1.5",
      "--conntrack",
      "none",
    ]);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verdict, "fail");
    assert.equal(out.limit, "server-unreachable");
    assert.equal(out.stopReason, "timeout", "kept retrying until the timeout, not a stall");
    assert.match(
      out.diagnosis,
      new RegExp(
        `^Server unreachable: http://127\\.0\\.0\\.1:${port}/stats did not answer any of \\d+ polls over 1\\.5 s \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`,
      ),
    );
    assert.ok(out.warnings.includes("client view not observed (no --clients-label): judged on the server view alone."));
    assert.match(r.stderr, /server unreachable \(connect ECONNREFUSED/);
    assert.deepEqual((await readdir(out.reportDir)).sort(), ["ramp.svg", "report.json", "report.md"]);
  });

  it("rejects bad arguments with exit 2, naming the flag; --help prints the usage", async () => {
    const bad = await runVerify(["--metrics-url", "http://127.0.0.1:1", "--expect", "sometimes"], {
      C1M_PLAN: JSON.stringify(loadFixture("half-open").plan),
    });
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
    assert.equal(bad.stderr, 'verify: --expect: expected one of all, plateau, got "sometimes"\nRun with --help for usage.\n');
    const noPlan = await runVerify(["--metrics-url", "http://127.0.0.1:1"], { C1M_PLAN: "" });
    assert.equal(noPlan.code, 2);
    assert.match(noPlan.stderr, /^verify: --plan: required/);
    const help = await runVerify(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: node dist\/workload\/verify\.js --plan FILE --metrics-url URL/);
    for (const flag of [
      "--plan",
      "--metrics-url",
      "--clients-label",
      "--conntrack",
      "--expect",
      "--timeout-seconds",
      "--stall-seconds",
      "--soak-seconds",
      "--stack",
      "--reports-dir",
      "--interval-seconds",
    ]) {
      assert.ok(help.stdout.includes(`  ${flag} `), flag);
    }
  });
});
