// The bare TCP handle bindings: present on this Node, and declined where using them would end
// the process (--throw-deprecation with --pending-deprecation), so callers fall back to net.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { tcpHandleBindings } from "../../workload/tcpHandles.js";

const MODULE = fileURLToPath(new URL("../../workload/tcpHandles.js", import.meta.url));

test("bindings: a TCP handle with the methods the server and client use", () => {
  const b = tcpHandleBindings();
  assert.ok(b !== null, "this Node has the handle bindings");
  const h = b.newSocket();
  for (const m of ["connect", "bind", "readStart", "writeBuffer", "useUserBuffer", "close", "getpeername"] as const) {
    assert.equal(typeof h[m], "function", m);
  }
  h.close();
});

test("--pending-deprecation --throw-deprecation: declined (net fallback), the process lives on", () => {
  const code = `import(${JSON.stringify(MODULE)}).then((m) => { console.log(m.tcpHandleBindings() === null ? "null" : "bindings"); setTimeout(() => console.log("alive"), 50); });`;
  for (const [flags, want] of [
    [["--pending-deprecation", "--throw-deprecation"], "null\nalive\n"],
    [["--pending-deprecation"], "bindings\nalive\n"],
  ] as const) {
    const r = spawnSync(process.execPath, [...flags, "-e", code], { encoding: "utf8" });
    assert.equal(r.status, 0, `${flags.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, want, flags.join(" "));
  }
});
