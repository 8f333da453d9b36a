// The experiment for real, without the Pulumi engine: the lab's own steps (same builders, same
// specs, same order) against a real dockerd and real containers from a local base image, then
// the connection test exactly as the ConnectionTest command runs it. A narrowed NAT pool
// (1,000 ports) makes each wall show in seconds. Everything is torn down, even on failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { planCapacity } from "../../infra/plan/capacity.js";
import { type CapacityPlan } from "../../shared/plan.js";
import { readStackConfig } from "../../infra/config/stackFile.js";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import { parseLabConfig, type LabConfig } from "../../infra/config/schema.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { labSteps, type LabSteps } from "../../infra/server/netns/steps.js";
import { STACK_LABEL } from "../../infra/clients/steps.js";
import { parseReport } from "../../infra/check/connectionTest.js";
import { localLabPaths } from "../../infra/install/stage.js";
import { installedPath } from "../../infra/install/scripts.js";
import { needsDocker, needsRoot, runScript, sh } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const id = process.pid % 1000;

interface Report {
  verdict: string;
  total: number;
  target: number;
  predicted: number;
  perServerIp: Record<string, number>;
  diagnosis: string;
  bindingLimit: string;
  reportDir: string;
  sharedSourcePorts?: unknown;
  [k: string]: unknown;
}

/** A shipped stack's config with names and subnets this test owns, and a small wall. */
function scenarioConfig(
  stack: string,
  n: number,
  overrides: { clients?: Record<string, unknown>; test?: Record<string, unknown> },
): LabConfig {
  const raw = readStackConfig(root, stack) as Record<string, Record<string, unknown>>;
  const octet = 150 + ((id + n) % 100);
  const renumber = (v: unknown): unknown =>
    typeof v === "string" ? v.replace(/^10\.201\.\d+\./, `10.210.${octet}.`) : Array.isArray(v) ? v.map(renumber) : v;
  const server = Object.fromEntries(Object.entries(raw.server!).map(([k, v]) => [k, renumber(v)]));
  const clients = { ...raw.clients! };
  if (clients.sourceIps && typeof clients.sourceIps === "object") {
    const s = clients.sourceIps as { strategy: string; addresses?: string[] };
    clients.sourceIps = s.addresses ? { ...s, addresses: renumber(s.addresses) } : s;
  }
  return parseLabConfig({
    server: { ...server, namespace: `c1mt-e2e-${id}-${n}`, hostInterface: `c1mt${id}e${n}h`, interface: `c1mt${id}e${n}s` },
    clients: { ...clients, subnet: `172.29.${(n * 4) % 256}.0/22`, ...overrides.clients },
    test: { ...raw.test, stallSeconds: 4, timeoutSeconds: 60, ...overrides.test },
    tuning: raw.tuning,
  });
}

function stepsFor(config: LabConfig, plan: CapacityPlan, stack: string, baseImage: string): LabSteps & { stateDir: string } {
  const stateDir = mkdtempSync(join(tmpdir(), "c1mt-e2e-"));
  const reportsDir = join(stateDir, "reports");
  const steps = labSteps(config, plan, stack, {
    ...localLabPaths(root, stack, { node: process.execPath, home: homedir() }),
    stateDir: join(stateDir, "run"),
    installDir: join(stateDir, "install"),
    reportsDir,
  });
  return { ...steps, image: { ...steps.image, baseImage }, stateDir };
}

/** The connection test, as the ConnectionTest command runs it. */
function verify(steps: LabSteps, plan: CapacityPlan): { code: number; report: Report; stderr: string } {
  const r = spawnSync(process.execPath, [installedPath(steps.verifyInstall), ...steps.verifyArgs], {
    encoding: "utf8",
    env: { ...process.env, C1M_PLAN: JSON.stringify(plan) },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, report: parseReport(r.stdout) as Report, stderr: r.stderr };
}

function assertNoResidue(steps: LabSteps, conntrackMaxBefore: string) {
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${steps.host.namespace}\\b`, "m"), "namespace removed");
  assert.equal(runScript(`ip link show ${steps.host.hostInterface}`).code, 1, "veth removed");
  assert.equal(sh(`docker ps -aq --filter label=${STACK_LABEL}=${steps.stack}`).trim(), "", "containers removed");
  assert.equal(sh(`docker network ls -q --filter label=${STACK_LABEL}=${steps.stack}`).trim(), "", "networks removed");
  assert.equal(runScript(`docker image inspect ${steps.image.name}`).code, 1, "image removed");
  assert.ok(!sh("iptables -t nat -S POSTROUTING").includes(`c1m-lab:${steps.stack}`), "NAT rules removed");
  assert.equal(sh("sysctl -n net.netfilter.nf_conntrack_max").trim(), conntrackMaxBefore, "conntrack limit restored");
  assert.ok(!existsSync(steps.server.stateDir), "state removed");
}

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
