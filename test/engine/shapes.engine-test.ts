// The shipped fixes through the real engine, small: a `snat-3ip`-shaped stack (three server IPs,
// one container each, through one narrowed NAT pool) and a `client-ips`-shaped one (one server
// IP, three client-host source IPs, one Docker network and SNAT rule each). Each: up, the pool
// narrowed (the wall per path), natPortRange removed (the rules go, all connect), destroy, then
// the residue audit. Needs what lab.engine-test.ts needs (npm run test:engine).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { sh } from "../support/sh.js";
import {
  assertLabGone,
  disposeStack,
  engineProject,
  hostSysctls,
  natRules,
  netnsServer,
  newEngineStack,
  upOutputs,
} from "../support/engineLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const id = process.pid % 10_000;
const snat3 = `engc${id}a`;
const clientIps = `engc${id}b`;
let engine: Engine;
let dir: string;
let before0: Record<string, string>;
const stacks = new Map<string, Stack>();

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  dir = engineProject(root, "c1m-engine-shapes-");
  before0 = hostSysctls();
});

after(async () => {
  let gone = true;
  for (const s of stacks.values()) gone = (await disposeStack(s)) && gone;
  if (gone && dir) rmSync(dir, { recursive: true, force: true });
});

/** Sets the stack's config (created on first use) and runs `up`. */
async function up(
  stack: string,
  server: object,
  clients: object,
  natPortRange: string | undefined,
  expect: "all" | "plateau",
): Promise<Record<string, unknown>> {
  const s = stacks.get(stack) ?? (await newEngineStack(engine, dir, stack));
  stacks.set(stack, s);
  await s.setAllConfig({
    "c1m-lab:server": { value: JSON.stringify(server) },
    "c1m-lab:clients": { value: JSON.stringify({ ...clients, natPortRange, connectTimeoutMs: 3000 }) },
    "c1m-lab:test": { value: JSON.stringify({ expect, timeoutSeconds: 60, stallSeconds: 5, dashboard: false }) },
  });
  return upOutputs(s);
}

async function destroyTwice(stack: string): Promise<void> {
  const s = stacks.get(stack)!;
  await s.destroy();
  assertLabGone(stack, before0);
  const again = await s.destroy();
  assert.deepEqual(again.summary.resourceChanges ?? {}, {});
}

// snat-3ip: container i → server address i, all through one MASQUERADE rule with --to-ports.
const snat3Up = (natPortRange: string | undefined, expect: "all" | "plateau") =>
  up(
    snat3,
    netnsServer(snat3, "10.215.1", { secondaryAddresses: { count: 2 } }),
    { containers: 3, connectionsPerContainer: 300, assignment: "per-container", subnet: "172.30.240.0/24" },
    natPortRange,
    expect,
  );

test("snat-3ip shape, up: three server IPs through one 1,000-port pool, all 900 connect", async () => {
  const o = await snat3Up("40000-40999", "all");
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 900);
  assert.deepEqual(o.perServerIp, { "10.215.1.2": 300, "10.215.1.3": 300, "10.215.1.4": 300 });
  assert.equal(natRules(snat3).length, 1);
  assert.match(natRules(snat3)[0]!, /-s 172\.30\.240\.0\/24 -d 10\.215\.1\.0\/24 .*-j MASQUERADE --to-ports 40000-40999/);
});

test("snat-3ip shape, the pool narrowed to 200 ports: each server IP's path stops at 200", async () => {
  const o = await snat3Up("40000-40199", "plateau");
  assert.equal(o.verdict, "plateau-as-expected");
  assert.equal(o.total, 600);
  assert.deepEqual(o.perServerIp, { "10.215.1.2": 200, "10.215.1.3": 200, "10.215.1.4": 200 });
  assert.equal(o.bindingLimit, "nat-pool");
  assert.equal(natRules(snat3).length, 1);
  assert.match(natRules(snat3)[0]!, /--to-ports 40000-40199/);
});

test("snat-3ip shape, natPortRange removed: the rule is gone and all 900 connect", async () => {
  const o = await snat3Up(undefined, "all");
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 900);
  assert.deepEqual(natRules(snat3), []);
});

test("snat-3ip shape, destroy: nothing of the lab is left, sysctls as before; a second destroy is a no-op", async () => {
  await destroyTwice(snat3);
});

// client-ips: one network per client-host address, each SNAT'd to it; with natPortRange, our rule
// per network (SNAT --to-source ADDRESS:FROM-TO) goes ahead of Docker's.
const clientIpsUp = (natPortRange: string | undefined, expect: "all" | "plateau") =>
  up(
    clientIps,
    netnsServer(clientIps, "10.215.2"),
    {
      containers: 3,
      connectionsPerContainer: 300,
      sourceIps: { strategy: "host-ips", addresses: ["10.215.2.11/24", "10.215.2.12/24", "10.215.2.13/24"] },
      subnet: "172.30.244.0/22",
    },
    natPortRange,
    expect,
  );

/** The server's live connections per remote IP (after NAT: the client-host address). */
async function perRemoteIp(metricsUrl: unknown): Promise<Record<string, number>> {
  const stats = (await (await fetch(`${String(metricsUrl)}/stats`)).json()) as { perRemoteIp: Record<string, number> };
  return stats.perRemoteIp;
}

test("client-ips shape, up: three client IPs to one server IP, all 900 connect, 300 from each address", async () => {
  const o = await clientIpsUp(undefined, "all");
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 900);
  assert.deepEqual(o.perServerIp, { "10.215.2.2": 900 });
  assert.deepEqual(await perRemoteIp(o.metricsUrl), { "10.215.2.11": 300, "10.215.2.12": 300, "10.215.2.13": 300 });
  assert.deepEqual(natRules(clientIps), []);
});

test("client-ips shape, natPortRange set (200 ports): one SNAT rule per client IP, each path stops at 200", async () => {
  const o = await clientIpsUp("40000-40199", "plateau");
  assert.equal(o.verdict, "plateau-as-expected");
  assert.equal(o.total, 600);
  assert.deepEqual(await perRemoteIp(o.metricsUrl), { "10.215.2.11": 200, "10.215.2.12": 200, "10.215.2.13": 200 });
  const rules = natRules(clientIps).map((r) => / -j (SNAT --to-source \S+)/.exec(r)?.[1]);
  assert.deepEqual(rules.sort(), [
    "SNAT --to-source 10.215.2.11:40000-40199",
    "SNAT --to-source 10.215.2.12:40000-40199",
    "SNAT --to-source 10.215.2.13:40000-40199",
  ]);
});

test("client-ips shape, natPortRange removed: the rules are gone and all 900 connect", async () => {
  const o = await clientIpsUp(undefined, "all");
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 900);
  assert.deepEqual(await perRemoteIp(o.metricsUrl), { "10.215.2.11": 300, "10.215.2.12": 300, "10.215.2.13": 300 });
  assert.deepEqual(natRules(clientIps), []);
});

test("client-ips shape, destroy: nothing of the lab is left (client-host addresses too), sysctls as before", async () => {
  await destroyTwice(clientIps);
  assert.equal(sh(`ip -4 -br addr | grep -c '10\\.215\\.2\\.1[123]/' || true`).trim(), "0");
});
