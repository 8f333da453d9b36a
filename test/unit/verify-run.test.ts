// runConnectionTest in-process: a recorded run replayed through a fake clock and poller, the
// report files it writes, and the progress lines.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runConnectionTest, type ConnectionTestOptions } from "../../workload/verify.js";
import { settleSeconds, timestampDirName, viewsAgree } from "../../workload/verify/run.js";
import { progressLine } from "../../workload/verify/progress.js";
import type { Clock } from "../../workload/verify/wait.js";
import type { Observation } from "../../workload/verify/types.js";
import { fixtureSettings, loadFixture } from "./verify-fixtures.js";

/** Replays a fixture's observations in order (the last one repeats); time advances only by sleeping. */
function replay(observations: Observation[]): { clock: Clock; poll: () => Promise<Omit<Observation, "t">> } {
  let ms = 0;
  let i = 0;
  return {
    clock: { now: () => ms, sleep: async (d) => void (ms += d) },
    poll: async () => {
      const o: Partial<Observation> = structuredClone(observations[Math.min(i++, observations.length - 1)]!);
      delete o.t; // the loop stamps its own time
      return o as Omit<Observation, "t">;
    },
  };
}

const options = (fx: ReturnType<typeof loadFixture>, reportsDir: string | null): ConnectionTestOptions => ({
  ...fixtureSettings(fx),
  plan: fx.plan,
  reportsDir,
});

describe("verify runConnectionTest", () => {
  it("replays the NAT wall: stalls, judges plateau-as-expected, writes report.json/.md and ramp.svg", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "c1m-verify-run-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fx = loadFixture("nat-pool-1ip");
    const { clock, poll } = replay(fx.run.observations);
    const lines: string[] = [];
    const at = new Date("2025-03-04T05:06:07.890Z");
    const result = await runConnectionTest(options(fx, dir), { clock, poll, progress: (l) => lines.push(l), now: () => at });

    assert.equal(result.output.verdict, "plateau-as-expected");
    assert.equal(result.output.stopReason, "stall");
    assert.equal(result.output.total, 64_512);
    // The peak (64,512) arrives at t=20; no growth ≥ 80 (target/1000) after 64,470 at t=14 → stall at t=24.
    assert.equal(result.report.timeline.at(-1)!.t, 24);
    assert.equal(lines.length, result.report.timeline.length);
    assert.match(
      lines[3]!,
      /^\[verify {4}6\.0s\] 54,000\/80,000 \(67\.5%\) \+9,000\/s \| 10\.201\.0\.2 54,000 \| clients 5\/5 running, 54,000 established \| conntrack 54,003\/262,144$/,
    );

    const reportDir = join(dir, "dev", "2025-03-04T05-06-07Z");
    assert.equal(result.output.reportDir, reportDir);
    assert.deepEqual((await readdir(reportDir)).sort(), ["ramp.svg", "report.json", "report.md"]);
    const json = JSON.parse(await readFile(join(reportDir, "report.json"), "utf8"));
    assert.deepEqual(json.output, JSON.parse(JSON.stringify(result.output)));
    assert.equal(json.settings.stack, "dev");
    assert.equal(json.plan.predicted, 64_512);
    assert.equal(json.timeline.length, lines.length);
    const md = await readFile(join(reportDir, "report.md"), "utf8");
    assert.ok(md.includes("**🟨 plateau as expected** — Plateau at 64,512 of 80,000 connections"));
    assert.ok(md.includes("![Connections over time](ramp.svg)"));
    const svg = await readFile(join(reportDir, "ramp.svg"), "utf8");
    assert.ok(svg.startsWith("<svg") && svg.includes("predicted 64,512") && svg.includes("target 80,000"));

    // Same second again: a new directory, not an overwrite.
    const again = replay(fx.run.observations);
    const second = await runConnectionTest(options(fx, dir), { ...again, progress: () => {}, now: () => at });
    assert.equal(second.output.reportDir, `${reportDir}-2`);
  });

  it("writes nothing with reportsDir null, and reports the failure", async () => {
    const fx = loadFixture("fd-limit-emfile");
    const result = await runConnectionTest(options(fx, null), { ...replay(fx.run.observations), progress: () => {} });
    assert.equal(result.files, null);
    assert.equal(result.output.reportDir, null);
    assert.equal(result.output.verdict, "fail");
    assert.equal(result.output.limit, "client-fd-limit");
  });

  it("waits for the clients' view to catch up after the target before judging", async () => {
    const fx = loadFixture("half-open");
    // The recorded run ends with the clients 1,500 behind; one poll later they caught up.
    const caughtUp = structuredClone(fx.run.observations.at(-1)!);
    for (const c of caughtUp.clients!) c.status!.established = 15_000;
    const lines: string[] = [];
    const result = await runConnectionTest(options(fx, null), {
      ...replay([...fx.run.observations, caughtUp]),
      progress: (l) => lines.push(l),
    });
    assert.equal(result.output.verdict, "pass");
    assert.deepEqual(result.output.crossCheck, { server: 45_000, clients: 45_000, difference: 0, tolerance: 450, ok: true });
    assert.equal(result.report.timeline.length, 5);
    assert.match(lines[4]!, /^\[verify {4}8\.0s settle\] 45,000\/45,000/);
    assert.equal(viewsAgree(fx.run.observations.at(-1)!), false);
    assert.equal(viewsAgree(caughtUp), true);
    assert.equal(settleSeconds(2), 4);
    assert.equal(settleSeconds(0.2), 3);
  });

  it("formats progress lines for an unreachable server and a soak", () => {
    const fx = loadFixture("server-unreachable");
    assert.equal(
      progressLine(fx.run.observations[1]!, null, 15_000),
      "[verify   10.0s] server unreachable (connect ECONNREFUSED 10.201.0.2:9100), retrying",
    );
    const o = loadFixture("three-ips-pass").run.observations;
    // 160 characters: the clients' count gives way to the three IPs.
    assert.equal(
      progressLine(o[5]!, o[4]!, 144_000, "soak"),
      "[verify   10.0s soak] 144,000/144,000 (100.0%) +12,000/s | 10.201.0.2 48,000 · 10.201.0.3 48,000 · 10.201.0.4 48,000 | clients 9/9 | conntrack 144,005/262,144",
    );
    assert.equal(timestampDirName(new Date("2025-12-31T23:59:59.999Z")), "2025-12-31T23-59-59Z");
  });
});
