// The experiment for real, without the Pulumi engine: the lab's own steps (same builders, same
// specs, same order) against a real dockerd and real containers from a local base image, then
// the connection test exactly as the ConnectionTest command runs it. A narrowed NAT pool
// (1,000 ports) makes each wall show in seconds. Everything is torn down, even on failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { planCapacity } from "../../infra/plan/capacity.js";
import { type CapacityPlan } from "../../shared/plan.js";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { needsDocker, needsRoot, sh } from "../support/sh.js";
import { assertNoResidue, id, scenarioConfig, stepsFor, verify, type Report } from "../support/directLab.js";

const scenarios: {
  name: string;
  stack: string;
  clients?: Record<string, unknown>;
  test?: Record<string, unknown>;
  check: (r: Report, plan: CapacityPlan, code: number) => void;
}[] = [
  {
    name: "one server IP behind the NAT plateaus at the pool (the article's wall)",
    stack: "snat-1ip",
    check(r, plan, code) {
      assert.equal(code, 0);
      assert.equal(r.verdict, "plateau-as-expected");
      assert.equal(plan.predicted, 1000);
      assert.ok(r.total >= 970 && r.total <= 1000, `total ${r.total} ≈ the 1,000-port pool`);
      assert.equal(Object.keys(r.perServerIp).length, 1);
      assert.match(r.diagnosis, /NAT source-port pool 40000–40999/);
    },
  },
  {
    name: "three server IPs connect everything (the article's fix)",
    stack: "snat-3ip",
    check(r, plan, code) {
      assert.equal(code, 0, r.diagnosis);
      assert.equal(r.verdict, "pass");
      assert.equal(r.total, 2550);
      assert.deepEqual(Object.values(r.perServerIp).sort(), [850, 850, 850]);
      assert.equal(r.total, plan.predicted);
    },
  },
  {
    name: "three client IPs past one server IP's wall",
    stack: "client-ips",
    clients: { containers: 3, connectionsPerContainer: 900, natPortRange: "40000-40999" },
    check(r, plan, code) {
      assert.equal(code, 0, r.diagnosis);
      assert.equal(r.verdict, "pass");
      assert.equal(r.total, 2700, "2,700 through one server IP:port with a 1,000-port pool");
      assert.equal(plan.predicted, 2700);
    },
  },
  {
    name: "both: 2 client IPs × 2 server IPs",
    stack: "both",
    clients: { containers: 4, connectionsPerContainer: 900, natPortRange: "40000-40999" },
    check(r, plan, code) {
      assert.equal(code, 0, r.diagnosis);
      assert.equal(r.verdict, "pass");
      assert.equal(r.total, 3600, "3,600 with a 1,000-port pool: 4 paths");
      assert.equal(plan.paths.length, 4);
    },
  },
  {
    name: "routed (same host): no NAT, each container is its own source",
    stack: "same-host",
    clients: { containers: 2, connectionsPerContainer: 1500 },
    check(r, _plan, code) {
      assert.equal(code, 0, r.diagnosis);
      assert.equal(r.verdict, "pass");
      assert.equal(r.total, 3000);
    },
  },
];

for (const [n, sc] of scenarios.entries()) {
  test(`lab end to end: ${sc.name}`, { timeout: 180_000 }, async (t) => {
    if (!needsRoot(t)) return;
    needsDocker();
    const base = ensureLocalNodeBase();
    const stack = `e2e-${id}-${n}`;
    const config = scenarioConfig(sc.stack, n, { clients: sc.clients, test: sc.test });
    const plan = planCapacity(config, readHostFacts());
    const steps = stepsFor(config, plan, stack, base);
    const conntrackBefore = sh("sysctl -n net.netfilter.nf_conntrack_max").trim();
    t.after(() => {
      labDown(steps, { log: () => {} });
      rmSync(steps.stateDir, { recursive: true, force: true });
    });

    labUp(steps, { log: () => {} });
    const { code, report, stderr } = verify(steps, plan);
    assert.ok(report.reportDir && existsSync(join(report.reportDir, "report.md")), `report written: ${stderr.slice(-500)}`);
    sc.check(report, plan, code);

    // Server-side truth: the remote addresses it sees match the strategy.
    const stats = (await (await fetch(`${steps.metricsUrl}/stats`)).json()) as { perRemoteIp: Record<string, number> };
    const remotes = Object.keys(stats.perRemoteIp).sort();
    if (report.verdict === "pass") {
      // The split the 4-tuple math predicts, per server IP and per client source IP.
      const sum = (key: "server" | "source") =>
        plan.paths.reduce<Record<string, number>>((m, p) => ({ ...m, [p[key]]: (m[p[key]] ?? 0) + p.expected }), {});
      assert.deepEqual(report.perServerIp, sum("server"), "per server IP as planned");
      if (config.clients.sourceIps.strategy !== "routed")
        assert.deepEqual(stats.perRemoteIp, sum("source"), "per client IP as planned");
    }
    if (config.clients.sourceIps.strategy === "routed") {
      assert.equal(remotes.length, config.clients.containers, "one source per container");
      for (const ip of remotes) assert.match(ip, /^172\.29\./, "container addresses, no NAT");
    } else {
      assert.deepEqual(remotes, [...plan.clientSources].sort(), "the NAT'd client-host addresses");
    }

    const problems = labDown(steps, { log: () => {} });
    assert.deepEqual(problems, []);
    assertNoResidue(steps, conntrackBefore);
  });
}
