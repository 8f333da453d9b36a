// The scale smoke CI keeps: bench:scale at 50,000 connections through the NAT (the same steps
// as the million stack, scaled), held for a short soak, then torn down. Figures are printed by
// the bench; this asserts behaviour only: everything connects, nothing is lost, nothing is left,
// no output line is wider than a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { needsDocker, needsRoot, runScript, sh } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

test("50,000 connections through the NAT, held, then nothing left", { timeout: 300_000 }, (t) => {
  if (!needsRoot(t)) return;
  needsDocker();
  const r = spawnSync(
    process.execPath,
    [`${root}/dist/bench/scale.js`, "--connections", "50000", "--soak-seconds", "5", "--timeout-seconds", "120"],
    {
      encoding: "utf8",
      timeout: 280_000,
    },
  );
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  // Readable in a terminal: no line of the run wider than 160 characters.
  const wide = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.length > 160);
  assert.deepEqual(wide, []);
  const file = /^figures \(JSON\)\s+(\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(file, r.stdout);
  const figures = JSON.parse(readFileSync(file, "utf8")) as {
    connections: number;
    target: number;
    verdict: string;
    diagnosis: string;
  };
  assert.equal(figures.verdict, "pass", figures.diagnosis);
  assert.equal(figures.connections, figures.target);
  assert.ok(figures.target >= 50_000);
  const held = /held for ([\d.]+) s without a loss/.exec(figures.diagnosis);
  assert.ok(held && Number(held[1]) >= 5, `soaked ≥ 5 s without a loss: ${figures.diagnosis}`);
  assert.doesNotMatch(sh("ip netns list"), /^c1m-million\b/m, "namespace removed");
  assert.equal(sh("docker ps -aq --filter label=c1m-lab.stack=bench-million").trim(), "", "containers removed");
  assert.equal(runScript("ip link show c1m-mil-h").code, 1, "veth removed");
});
