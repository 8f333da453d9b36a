// The real Pulumi engine (the CLI and nodejs language host `npm run engine:build` makes) running
// the compiled program through the Automation API, with a file:// backend in a temp dir. What
// it checks happens before any provider is needed: bad config and misplaced secrets stop `up`
// with a message naming the key, leak no secret, and leave no resource in the state.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
let engine: Engine;
let dir: string;

before(async () => {
  engine = await requireEngine(root);
  // The project as Pulumi sees it: our Pulumi.yaml, the compiled program and node_modules.
  dir = mkdtempSync(join(tmpdir(), "c1m-engine-"));
  for (const f of ["Pulumi.yaml", "package.json", "dist", "node_modules"]) symlinkSync(join(root, f), join(dir, f));
  mkdirSync(join(dir, "state"));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function newStack(config: Record<string, { value: string; secret?: boolean }>): Promise<Stack> {
  const stack = await LocalWorkspace.createStack(
    { stackName: `engine-${process.pid}-${++n}`, workDir: dir },
    {
      pulumiCommand: engine.command,
      envVars: {
        PULUMI_BACKEND_URL: `file://${join(dir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "engine-test",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      },
    },
  );
  await stack.setAllConfig(config);
  return stack;
}

/** `up` must fail; returns everything the engine printed. */
async function failingUp(stack: Stack): Promise<string> {
  let printed = "";
  try {
    await stack.up({ onOutput: (s) => (printed += s) });
  } catch (e) {
    return `${printed}\n${(e as Error).message}`;
  }
  assert.fail(`up succeeded:\n${printed}`);
}

/** Resources in the stack's state other than the stack itself. */
async function resourcesInState(stack: Stack): Promise<string[]> {
  const state = (await stack.exportStack()).deployment as { resources?: { type: string; urn: string }[] };
  return (state.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.urn);
}

const server = (extra: Record<string, unknown>) => ({
  value: JSON.stringify({ provider: "netns", namespace: "c1mt-engine", ...extra }),
});

test("the engine is ours or the user's, and reports a version", () => {
  assert.match(engine.command.version?.toString() ?? "", /^3\.\d+\.\d+/);
});

test("bad config: up fails naming the key and its value, and the state holds no resource", async () => {
  const stack = await newStack({ "c1m-lab:server": server({ port: 70000 }) });
  const out = await failingUp(stack);
  assert.match(out, /server\.port/);
  assert.match(out, /65535/);
  assert.deepEqual(await resourcesInState(stack), []);
  await stack.workspace.removeStack(stack.name);
});

test("sshPrivateKey in plain text is refused with how to set it as a secret", async () => {
  const stack = await newStack({
    "c1m-lab:server": server({}),
    "c1m-lab:sshPrivateKey": { value: "-----BEGIN OPENSSH PRIVATE KEY-----plain" },
  });
  const out = await failingUp(stack);
  assert.match(out, /c1m-lab:sshPrivateKey is set in plain text: set it with `pulumi config set --secret c1m-lab:sshPrivateKey/);
  assert.deepEqual(await resourcesInState(stack), []);
  await stack.workspace.removeStack(stack.name);
});

test("another key set as a secret is refused by name, and its value is printed nowhere", async () => {
  const marker = "s3cr3t-marker-7f1c";
  const stack = await newStack({
    "c1m-lab:server": server({}),
    "c1m-lab:test": { value: JSON.stringify({ expect: "all", note: marker }), secret: true },
  });
  const out = await failingUp(stack);
  assert.match(out, /c1m-lab:test: only c1m-lab:sshPrivateKey may be a secret/);
  assert.ok(!out.includes(marker), "the secret's value must not reach the output");
  assert.deepEqual(await resourcesInState(stack), []);
  await stack.workspace.removeStack(stack.name);
});
