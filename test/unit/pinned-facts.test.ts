// The values that depend on who runs `up`, read once per stack and kept (temp files, literal values).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pinFacts, pinnedFile } from "../../infra/plan/pinned.js";

const dir = mkdtempSync(join(tmpdir(), "c1m-pinned-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const exists = (p: string) => ["/usr/bin/node", "/root", "/opt/node20/bin/node", "/home/me"].includes(p);

test("the first run's values are kept; another shell's are not used", () => {
  const file = join(dir, "a", "snat-1ip.json");
  const first = { fdHardLimit: 20_000, node: "/usr/bin/node", home: "/root" };
  assert.deepEqual(pinFacts(file, first, exists), first);
  assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), first);
  // sudo with another limit, nvm's node, another HOME:
  const other = { fdHardLimit: 4096, node: "/opt/node20/bin/node", home: "/home/me" };
  assert.deepEqual(pinFacts(file, other, exists), first);
});

test("a pinned node or HOME that is gone gives way to the current one; a broken file counts as none", () => {
  const file = join(dir, "b.json");
  writeFileSync(file, JSON.stringify({ fdHardLimit: 20_000, node: "/gone/node", home: "/gone" }));
  const current = { fdHardLimit: 4096, node: "/usr/bin/node", home: "/root" };
  assert.deepEqual(pinFacts(file, current, exists), { fdHardLimit: 20_000, node: "/usr/bin/node", home: "/root" });
  assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), { fdHardLimit: 20_000, node: "/usr/bin/node", home: "/root" });
  writeFileSync(file, "{ not json");
  assert.deepEqual(pinFacts(file, current, exists), current);
});

test("where the file lives: the project's .c1m-lab/pinned, or $C1M_PINNED_DIR", () => {
  assert.equal(pinnedFile("/work/lab", "million", {}), "/work/lab/.c1m-lab/pinned/million.json");
  assert.equal(pinnedFile("/work/lab", "million", { C1M_PINNED_DIR: "/tmp/p" }), "/tmp/p/million.json");
});
