// script(): a step's name reaches its failure message as written, whatever it holds (the empty
// NAT pool step's "Docker's own MASQUERADE" once broke its script's syntax; the engine showed it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { script } from "../../infra/shell.js";
import { assertBashSyntax, runScript } from "../support/sh.js";

for (const name of ["NAT pool: none (Docker's own MASQUERADE)", 'a "quoted" $HOME `x` \\ name', "plain"]) {
  test(`a failing step named ${JSON.stringify(name)} says so by name`, () => {
    const s = script(name, ["true", "false"]);
    assertBashSyntax(s, name);
    const r = runScript(s);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `c1m-lab: ${name} failed at line 5\n`);
  });
}
