// lab:up never writes into a tracked file. The real Pulumi CLI (`npm run engine:build`) creates
// and selects a stack the way lab:up does (openEngineStack: the engine works on a copy of the
// stack file in .c1m-lab/engine-workdir/<stack>), in a throwaway git repository holding the
// project's Pulumi.yaml and a tracked stack file: `git status` stays clean, the encryptionsalt
// lands in the copy, and a second run finds it again from the state. No provider is needed: a
// preview stops where the plugins are missing, after the CLI has loaded the stack's config.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { engineEnv, openEngineStack } from "../../infra/cli/lab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
let engine: Engine;
let proj: string;
let envVars: Record<string, string>;

const git = (...args: string[]) => execFileSync("git", ["-C", proj, ...args], { encoding: "utf8" });
const status = () => git("status", "--porcelain", "--untracked-files=all");

before(async () => {
  try {
    execFileSync("git", ["--version"]);
  } catch {
    throw new Error("this test needs git (apt-get install git)");
  }
  engine = await requireEngine(root);
  // The project as a checkout holds it: Pulumi.yaml and a stack file tracked, the rest linked and ignored.
  proj = mkdtempSync(join(tmpdir(), "c1m-stackfiles-"));
  copyFileSync(join(root, "Pulumi.yaml"), join(proj, "Pulumi.yaml"));
  copyFileSync(join(root, "Pulumi.snat-1ip.yaml"), join(proj, "Pulumi.snat-1ip.yaml"));
  copyFileSync(join(root, "Pulumi.snat-1ip.yaml"), join(proj, "Pulumi.control.yaml"));
  for (const f of ["package.json", "dist", "node_modules"]) symlinkSync(join(root, f), join(proj, f));
  writeFileSync(join(proj, ".gitignore"), "/package.json\n/dist\n/node_modules\n/state/\n.c1m-lab/\n");
  mkdirSync(join(proj, "state"));
  git("init", "-q");
  git("add", ".");
  git("-c", "user.name=c1m-test", "-c", "user.email=c1m-test@localhost", "commit", "-q", "-m", "project");
  envVars = {
    ...engineEnv({ PULUMI_BACKEND_URL: `file://${join(proj, "state")}` }, { root: proj }),
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
});

after(() => {
  if (proj) rmSync(proj, { recursive: true, force: true });
});

test("the stack created and selected as lab:up does: no tracked file changes, the salt is in the engine's copy", async () => {
  assert.equal(status(), "", "a clean checkout to start with");
  const copy = join(proj, ".c1m-lab", "engine-workdir", "snat-1ip", "Pulumi.snat-1ip.yaml");

  const created = await openEngineStack(proj, "snat-1ip", engine, envVars);
  assert.equal(created.name, "snat-1ip");
  assert.equal(git("status", "--porcelain", "--", "Pulumi.*.yaml"), "");
  assert.equal(status(), "");
  const salt = /^encryptionsalt: (v1:\S+)$/m.exec(readFileSync(copy, "utf8"))?.[1];
  assert.ok(salt, `stack init wrote its encryptionsalt into the copy:\n${readFileSync(copy, "utf8")}`);

  // Again, as the next lab:up: a fresh copy (no salt), the stack selected, its config loaded by a preview.
  const again = await openEngineStack(proj, "snat-1ip", engine, envVars);
  let printed = "";
  try {
    await again.preview({ onOutput: (s) => (printed += s) });
  } catch (e) {
    printed += (e as Error).message;
  }
  assert.equal(git("status", "--porcelain", "--", "Pulumi.*.yaml"), "", printed);
  assert.equal(status(), "");
  assert.equal(
    /^encryptionsalt: (v1:\S+)$/m.exec(readFileSync(copy, "utf8"))?.[1],
    salt,
    `the same salt, from the state:\n${readFileSync(copy, "utf8")}\n${printed}`,
  );
  assert.doesNotMatch(printed, /passphrase|decrypt/i);
});

test("control: the engine working in the project itself writes the salt into the tracked stack file", async () => {
  await LocalWorkspace.createOrSelectStack({ stackName: "control", workDir: proj }, { pulumiCommand: engine.command, envVars });
  assert.equal(git("status", "--porcelain", "--", "Pulumi.*.yaml"), " M Pulumi.control.yaml\n");
  assert.match(git("diff", "--", "Pulumi.control.yaml"), /^\+encryptionsalt: v1:/m);
});
