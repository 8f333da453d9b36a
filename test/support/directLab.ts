// The lab without the Pulumi engine, for end-to-end tests: a shipped stack's config renamed and
// renumbered so the test owns it, the lab's own steps for it, the connection test run exactly as
// the ConnectionTest command runs it, and the residue check after labDown.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CapacityPlan } from "../../shared/plan.js";
import { readStackConfig } from "../../infra/config/stackFile.js";
import { parseLabConfig, type LabConfig } from "../../infra/config/schema.js";
import { labSteps, type LabSteps } from "../../infra/server/netns/steps.js";
import { STACK_LABEL } from "../../infra/clients/steps.js";
import { parseReport } from "../../infra/check/connectionTest.js";
import { localLabPaths } from "../../infra/install/stage.js";
import { installedPath } from "../../infra/install/scripts.js";
import { runScript, sh } from "./sh.js";

export const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
export const id = process.pid % 1000;

export interface Report {
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
export function scenarioConfig(
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

export function stepsFor(
  config: LabConfig,
  plan: CapacityPlan,
  stack: string,
  baseImage: string,
): LabSteps & { stateDir: string } {
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
export function verify(steps: LabSteps, plan: CapacityPlan): { code: number; report: Report; stderr: string } {
  const r = spawnSync(process.execPath, [installedPath(steps.verifyInstall), ...steps.verifyArgs], {
    encoding: "utf8",
    env: { ...process.env, ...steps.verifyEnv, C1M_PLAN: JSON.stringify(plan) },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, report: parseReport(r.stdout) as Report, stderr: r.stderr };
}

export function assertNoResidue(steps: LabSteps, conntrackMaxBefore: string) {
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${steps.host.namespace}\\b`, "m"), "namespace removed");
  assert.equal(runScript(`ip link show ${steps.host.hostInterface}`).code, 1, "veth removed");
  assert.equal(sh(`docker ps -aq --filter label=${STACK_LABEL}=${steps.stack}`).trim(), "", "containers removed");
  assert.equal(sh(`docker network ls -q --filter label=${STACK_LABEL}=${steps.stack}`).trim(), "", "networks removed");
  assert.equal(runScript(`docker image inspect ${steps.image.name}`).code, 1, "image removed");
  assert.ok(!sh("iptables -t nat -S POSTROUTING").includes(`c1m-lab:${steps.stack}`), "NAT rules removed");
  assert.equal(sh("sysctl -n net.netfilter.nf_conntrack_max").trim(), conntrackMaxBefore, "conntrack limit restored");
  assert.ok(!existsSync(steps.server.stateDir), "state removed");
}
