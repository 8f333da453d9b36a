// boundedRun: a program that cannot start, one that overruns its bound, one that exits.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { boundedRun } from "../../workload/verify/boundedRun.js";

const moduleUrl = new URL("../../workload/verify/boundedRun.js", import.meta.url).href;

test("a missing program: ENOENT, and the caller's process exits at once, not after the 60 s bound", () => {
  const started = Date.now();
  const out = execFileSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { boundedRun } = await import(${JSON.stringify(moduleUrl)});
       const r = await boundedRun("/nonexistent/c1m-no-such-tool", ["x"], { timeoutMs: 60000, tailChars: 100 });
       console.log(r.spawnError?.code, r.code);`,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(out.trim(), "ENOENT null");
  assert.ok(Date.now() - started < 30_000, `exited in ${Date.now() - started} ms`);
});

test("a program past its bound is killed with SIGTERM; stderr keeps its tail", async () => {
  const r = await boundedRun("/bin/sh", ["-c", "echo 0123456789 >&2; exec sleep 30"], { timeoutMs: 300, tailChars: 4 });
  assert.deepEqual(r, { code: null, signal: "SIGTERM", stderr: "789\n", spawnError: null });
});

test("a program that exits: its code; stdout discarded; the environment given", async () => {
  const r = await boundedRun("/bin/sh", ["-c", 'echo out; echo "$C1M_X" >&2; exit 3'], {
    timeoutMs: 10_000,
    tailChars: 100,
    env: { C1M_X: "given" },
  });
  assert.deepEqual(r, { code: 3, signal: null, stderr: "given\n", spawnError: null });
});
