// test.scenario reconnect-storm end to end, without the Pulumi engine: one small lab (the local
// stack's shape, 2 containers × 500 connections, clients.reconnect base 4,000 ms so a 1 s poll
// tells a herd from a spread crowd). With jitter none every dropped connection comes back in the
// same instant; then the same lab's clients are recreated with full jitter and the storm repeats.
// Both recover to the exact target with nothing lost; the herd's peak rate at the listeners is
// higher than the spread crowd's.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { StormOutput } from "../../workload/verify/scenarios/stormVerdict.js";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { planCapacity } from "../../infra/plan/capacity.js";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { dockerRunArgs } from "../../infra/clients/dockerCli.js";
import { CLIENT_ENV } from "../../shared/protocol.js";
import { needsDocker, needsRoot, sh } from "../support/sh.js";
import { id, scenarioConfig, stepsFor, verify, type Report } from "../support/directLab.js";

const N = 9; // this file's slot in directLab's names and subnets (lab-e2e uses 0-4, rtt-e2e 7)

function stormOf(t: TestContext, r: { code: number; report: Report; stderr: string }, jitter: string): StormOutput {
  for (const line of r.stderr.split("\n").filter((l) => l.startsWith("[verify storm"))) t.diagnostic(`${jitter}: ${line}`);
  assert.equal(r.code, 0, `${jitter}: ${r.report.diagnosis} ${r.stderr.slice(-1500)}`);
  assert.equal(r.report.verdict, "pass");
  const storm = r.report.storm as StormOutput;
  assert.equal(storm.recovered, true, `${jitter}: ${JSON.stringify(storm)}`);
  assert.equal(storm.finalTotal, 1000, `${jitter}: back to the exact target`);
  assert.equal(storm.lostForGood, 0);
  if (jitter === "none") {
    assert.equal(storm.clientsDropped, 1000, `${jitter}: every connection dropped once`);
  } else {
    // A full-jitter delay drawn near 0 ms can reach the killed server's listener before the kernel
    // has closed it: that connection is accepted, then reset, and drops a second time (seen once
    // in CI: 1,003). Each drop still ends in a reconnect.
    assert.ok((storm.clientsDropped ?? 0) >= 1000, `${jitter}: every connection dropped (${storm.clientsDropped})`);
  }
  assert.equal(storm.clientsReconnected, storm.clientsDropped, `${jitter}: and every drop came back`);
  assert.equal(storm.maxRecoverySeconds, 40);
  assert.ok(storm.restartSeconds !== null && storm.restartSeconds > 0, JSON.stringify(storm));
  // Nothing comes back before a restart has finished and the backoff ran out (jitter none: 4 s).
  assert.ok(storm.recoverySeconds !== null && storm.recoverySeconds >= storm.restartSeconds! && storm.recoverySeconds <= 40);
  assert.match(r.report.diagnosis, /After a server restart all 1,000 connections were back in/);
  return storm;
}

test(
  "reconnect storm: the server restarted under load, all 1,000 connections back with none lost, recovery time reported; jitter none peaks higher at the listeners than full",
  { timeout: 240_000 },
  (t) => {
    if (!needsRoot(t)) return;
    needsDocker();
    const base = ensureLocalNodeBase();
    const config = scenarioConfig("local", N, {
      clients: { containers: 2, connectionsPerContainer: 500, reconnect: { baseMs: 4000, capMs: 30_000, jitter: "none" } },
      test: { scenario: "reconnect-storm", maxRecoverySeconds: 40 },
    });
    const plan = planCapacity(config, readHostFacts());
    const steps = stepsFor(config, plan, `e2e-${id}-${N}`, base);
    t.after(() => {
      labDown(steps, { log: () => {} });
      rmSync(steps.stateDir, { recursive: true, force: true });
    });

    labUp(steps, { log: () => {} });
    const none = stormOf(t, verify(steps, plan), "none");

    // The same lab, its clients recreated with full jitter.
    sh(`docker rm -f ${steps.containers.map((c) => c.name).join(" ")}`);
    for (const c of steps.containers) {
      execFileSync("docker", dockerRunArgs({ ...c, env: { ...c.env, [CLIENT_ENV.reconnectJitter]: "full" } }, steps.image.name));
    }
    const full = stormOf(t, verify(steps, plan), "full");

    t.diagnostic(`jitter none: ${JSON.stringify(none)}`);
    t.diagnostic(`jitter full: ${JSON.stringify(full)}`);
    assert.ok(none.peakHandshakesPerSecond !== null && full.peakHandshakesPerSecond !== null);
    assert.ok(
      none.peakHandshakesPerSecond > full.peakHandshakesPerSecond,
      `herd ${none.peakHandshakesPerSecond}/s vs spread ${full.peakHandshakesPerSecond}/s`,
    );
  },
);
