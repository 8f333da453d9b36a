// The program run from two checkouts of the project at different paths (this one, and a copy
// in a temp directory: its built program, the sources its bundles come from, node_modules
// linked) registers the very same resources with the very same inputs: no script, trigger or
// build context names a checkout, so `up` from another checkout, or after a move, changes nothing.
// And a change to one program's code changes the one step that installs it, nothing else.
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pulumiConfigJson } from "../../infra/config/stackFile.js";
import { runProgram, type ProgramRun } from "../support/mockProgram.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const made: string[] = [];
let pinned = "";

/** A checkout of this project in a temp directory; `edit` changes its sources first. */
function checkout(edit: (dir: string) => void = () => {}): string {
  const dir = mkdtempSync(join(tmpdir(), "c1m-other-checkout-"));
  made.push(dir);
  cpSync(join(root, "dist"), join(dir, "dist"), {
    recursive: true,
    filter: (src) => !src.startsWith(join(root, "dist", "test")),
  });
  for (const f of ["workload", "shared", "package.json", "tsconfig.json"])
    cpSync(join(root, f), join(dir, f), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  edit(dir);
  return dir;
}

before(() => {
  pinned = mkdtempSync(join(tmpdir(), "c1m-pinned-"));
});
after(() => {
  for (const d of [...made, pinned]) rmSync(d, { recursive: true, force: true });
});

/** A run on this machine (the same pinned facts, the running host's token) from the checkout at `dir` (default this one). */
async function runFrom(stack: string, dir?: string): Promise<ProgramRun> {
  const r = await runProgram(pulumiConfigJson(root, stack), {
    stack,
    pinnedDir: pinned,
    hostInstance: "6f1c1e0a-3b1d-4c4e-9a55-0c1d2e3f4a5b",
    ...(dir ? { entry: pathToFileURL(join(dir, "dist/infra/index.js")).href } : {}),
  });
  assert.equal(r.error, undefined, String(r.error));
  return r;
}

/** The names of the resources whose registration differs between two runs. */
const differing = (a: ProgramRun, b: ProgramRun) =>
  a.resources.filter((r, i) => JSON.stringify(r) !== JSON.stringify(b.resources[i])).map((r) => r.name);

for (const stack of ["local", "snat-1ip"]) {
  test(`stack ${stack}: the same resources with the same inputs from a checkout at another path`, async () => {
    const copy = checkout();
    const [here, there] = [await runFrom(stack), await runFrom(stack, copy)];
    assert.ok(here.resources.length > 20, `${here.resources.length} resources`);
    assert.deepEqual(differing(here, there), [], "resources that differ");
    assert.deepEqual(there.resources, here.resources);
    assert.deepEqual(there.outputs, here.outputs);
    const text = JSON.stringify(here.resources);
    for (const dir of [root, copy]) assert.ok(!text.includes(dir), `no input names ${dir}`);
  });
}

test("a change to one program's code changes the step that installs it, nothing else", async () => {
  const marker = (file: string) => (dir: string) =>
    appendFileSync(join(dir, file), `\nexport const c1mTestMarker = ${JSON.stringify(file)};\n`);
  const here = await runFrom("snat-1ip");
  for (const [file, step] of [
    ["workload/server.ts", "connection-server-install"],
    ["workload/verify.ts", "connection-test-install"],
    ["workload/client.ts", "clients-image"],
  ] as const) {
    assert.deepEqual(differing(here, await runFrom("snat-1ip", checkout(marker(file)))), [step], file);
  }
});
