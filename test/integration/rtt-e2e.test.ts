// Round trips and CPU end to end, without the Pulumi engine: one small lab (the local stack's
// shape, 2 containers × 300 connections, a ping a second, a 10 s hold, p99 bound 5,000 ms, loose
// enough for a machine shared with a million-connection lab). The first connection test reports
// the hold's percentiles and the clients' and server's CPU, and passes; then the server stops
// answering (its test hook: the mute file appears) and the next test fails on the bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planCapacity } from "../../infra/plan/capacity.js";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { MUTE_FILE_ENV } from "../../workload/server/worker.js";
import { needsDocker, needsRoot } from "../support/sh.js";
import { id, scenarioConfig, stepsFor, verify } from "../support/directLab.js";

const N = 7; // this file's slot in directLab's names and subnets (lab-e2e uses 0-4)

interface RttOut {
  count?: number;
  p50?: number;
  p99?: number;
  p999?: number;
  max?: number;
  pings: number;
  echoes: number;
  unanswered: number;
  maxRttMs: number | null;
}

test(
  "round trips and CPU: the hold's percentiles and the clients' and server's CPU reported; a server that stops answering fails test.maxRttMs",
  { timeout: 180_000 },
  (t) => {
    if (!needsRoot(t)) return;
    needsDocker();
    const base = ensureLocalNodeBase();
    const config = scenarioConfig("local", N, {
      clients: { containers: 2, connectionsPerContainer: 300, ping: { intervalSeconds: 1 } },
      test: { soakSeconds: 10, maxRttMs: 5000 },
    });
    const plan = planCapacity(config, readHostFacts());
    const steps = stepsFor(config, plan, `e2e-${id}-${N}`, base);
    // The server inherits the test's environment through the lab's start script.
    const muteFile = join(steps.stateDir, "mute");
    const before = process.env[MUTE_FILE_ENV];
    process.env[MUTE_FILE_ENV] = muteFile;
    t.after(() => {
      if (before === undefined) delete process.env[MUTE_FILE_ENV];
      else process.env[MUTE_FILE_ENV] = before;
      labDown(steps, { log: () => {} });
      rmSync(steps.stateDir, { recursive: true, force: true });
    });

    labUp(steps, { log: () => {} });
    const answered = verify(steps, plan);
    assert.equal(answered.code, 0, `${answered.report.diagnosis} ${answered.stderr.slice(-500)}`);
    assert.equal(answered.report.verdict, "pass");
    assert.equal(answered.report.total, 600);
    const rtt = answered.report.rtt as RttOut;
    assert.ok(rtt.pings >= 600, `every connection pinged during the hold: ${JSON.stringify(rtt)}`);
    assert.equal(rtt.unanswered, 0);
    assert.equal(rtt.maxRttMs, 5000);
    assert.ok(rtt.count! >= rtt.echoes, "every echo is a round trip");
    assert.ok(0 < rtt.p50! && rtt.p50! <= rtt.p99! && rtt.p99! <= rtt.p999! && rtt.p999! <= rtt.max!, JSON.stringify(rtt));
    assert.ok(rtt.p99! <= 5000, `p99 within the bound: ${rtt.p99} ms`);
    // The generator's headroom was read: each container's CPU from the Docker API, the server's from /stats.
    const generator = answered.report.generator as { clientCpuPeak: Record<string, number>; serverCpuPeak: number | null };
    assert.equal(Object.keys(generator.clientCpuPeak).length, 2, JSON.stringify(generator));
    for (const peak of Object.values(generator.clientCpuPeak)) assert.ok(peak > 0 && peak < 2, JSON.stringify(generator));
    assert.ok(generator.serverCpuPeak !== null && generator.serverCpuPeak > 0, JSON.stringify(generator));

    writeFileSync(muteFile, "");
    const silent = verify(steps, plan);
    assert.equal(silent.code, 1, silent.report.diagnosis);
    assert.equal(silent.report.verdict, "fail");
    assert.equal(silent.report.limit, "rtt");
    assert.equal(silent.report.total, 600, "the connections are still held: only the answers stopped");
    assert.match(silent.report.diagnosis, /pings during the hold got no echo within 5 s \(more than 1%\), so p99 is unbounded/);
  },
);
