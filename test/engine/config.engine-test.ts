// A bad config through the real engine: `up` stops before any resource, with a message naming
// the key, its value and what is valid, and nothing appears on the machine. The time `up` took is
// printed (bench/README.md records it; no timing is asserted). Needs npm run test:engine's setup.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { assertLabGone, disposeStack, engineProject, hostSysctls, netnsServer, newEngineStack } from "../support/engineLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const name = `engc${process.pid % 10_000}c`;
let engine: Engine;
let dir: string;
let stack: Stack | undefined;

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  dir = engineProject(root, "c1m-engine-config-");
});

after(async () => {
  if ((await disposeStack(stack)) && dir) rmSync(dir, { recursive: true, force: true });
});

test("clients.natPortRange 70000-80000: up fails naming the key and what is valid, and creates nothing", async (t) => {
  const before0 = hostSysctls();
  stack = await newEngineStack(engine, dir, name);
  await stack.setAllConfig({
    "c1m-lab:server": {
      value: JSON.stringify(netnsServer(name, "10.215.4")),
    },
    "c1m-lab:clients": { value: JSON.stringify({ containers: 2, natPortRange: "70000-80000", subnet: "172.30.243.0/24" }) },
  });
  let printed = "";
  const started = Date.now();
  const failed = await stack.up({ onOutput: (s) => (printed += s) }).then(
    () => undefined,
    (e: Error) => e,
  );
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`bad config: pulumi up exited in ${seconds.toFixed(1)} s`);
  assert.ok(failed, `up succeeded:\n${printed}`);
  const out = `${printed}\n${failed.message}`;
  assert.match(out, /a port range within 1-65535 with from <= to; got "70000-80000"/);
  assert.match(out, /→ at clients\.natPortRange/);
  const deployment = (await stack.exportStack()).deployment as { resources?: { type: string }[] };
  assert.deepEqual(
    (deployment.resources ?? []).map((r) => r.type).filter((type) => type !== "pulumi:pulumi:Stack"),
    [],
    "no resource in the state",
  );
  assertLabGone(name, before0);
});
