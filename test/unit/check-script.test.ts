// The connection test's script, run for real with stand-ins for verify: a report is passed on
// as it is, anything else fails the step with what verify printed.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyScript } from "../../infra/check/script.js";
import { assertBashSyntax, runScript } from "../support/sh.js";

const dir = mkdtempSync(join(tmpdir(), "c1m-check-script-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeVerify(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

test("a JSON report with a verdict is passed on as it is", () => {
  const verify = fakeVerify("ok.js", 'console.log(JSON.stringify({ verdict: "pass", total: 3 }));');
  const s = verifyScript(process.execPath, verify, ["--stack", "it's"]);
  assertBashSyntax(s, "verify script");
  const r = runScript(s);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"verdict":"pass","total":3}\n');
});

test("a stray line instead of the report fails the step and shows what was printed", () => {
  const verify = fakeVerify("stray.js", 'console.log("debug: hello"); console.log("{");');
  const r = runScript(verifyScript(process.execPath, verify, []));
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /debug: hello/);
  assert.match(r.stderr, /c1m-lab: verify printed no readable report \(above\): the outputs would be empty/);
});

test("JSON without a verdict fails too; a failing verify fails with its own exit code", () => {
  const noVerdict = fakeVerify("noverdict.js", 'console.log("{}");');
  assert.equal(runScript(verifyScript(process.execPath, noVerdict, [])).code, 1);
  const failing = fakeVerify("failing.js", 'console.log(JSON.stringify({ verdict: "fail" })); process.exit(3);');
  const r = runScript(verifyScript(process.execPath, failing, []));
  assert.equal(r.code, 3);
  assert.equal(r.stdout, "");
});
