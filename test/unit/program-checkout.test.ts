// The program run from two checkouts of the project at different paths (this one, and a copy
// in a temp directory: its built program, the sources its bundles come from, node_modules
// linked) registers the very same resources with the very same inputs: no script, trigger or
// build context names a checkout, so `up` from another checkout, or after a move, changes nothing.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pulumiConfigJson } from "../../infra/config/stackFile.js";
import { runProgram } from "../support/mockProgram.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
let copy = "";
let pinned = "";

before(() => {
  copy = mkdtempSync(join(tmpdir(), "c1m-other-checkout-"));
  cpSync(join(root, "dist"), join(copy, "dist"), {
    recursive: true,
    filter: (src) => !src.startsWith(join(root, "dist", "test")),
  });
  for (const f of ["workload", "shared", "package.json", "tsconfig.json"])
    cpSync(join(root, f), join(copy, f), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  pinned = mkdtempSync(join(tmpdir(), "c1m-pinned-"));
});
after(() => {
  rmSync(copy, { recursive: true, force: true });
  rmSync(pinned, { recursive: true, force: true });
});

for (const stack of ["local", "snat-1ip"]) {
  test(`stack ${stack}: the same resources with the same inputs from a checkout at another path`, async () => {
    const config = pulumiConfigJson(root, stack);
    // One machine: the same pinned facts, and the running host's token.
    const same = { stack, pinnedDir: pinned, hostInstance: "6f1c1e0a-3b1d-4c4e-9a55-0c1d2e3f4a5b" };
    const here = await runProgram(config, same);
    const there = await runProgram(config, { ...same, entry: pathToFileURL(join(copy, "dist/infra/index.js")).href });
    assert.equal(here.error, undefined, String(here.error));
    assert.equal(there.error, undefined, String(there.error));
    assert.ok(here.resources.length > 20, `${here.resources.length} resources`);
    const differs = here.resources
      .map((r, i) => [r.name, JSON.stringify(r), JSON.stringify(there.resources[i])] as const)
      .filter(([, a, b]) => a !== b);
    assert.deepEqual(differs, [], "resources that differ");
    assert.deepEqual(there.resources, here.resources);
    assert.deepEqual(there.outputs, here.outputs);
    const text = JSON.stringify(here.resources);
    for (const checkout of [root, copy]) assert.ok(!text.includes(checkout), `no input names ${checkout}`);
  });
}
