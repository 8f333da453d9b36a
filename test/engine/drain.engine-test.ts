// A client replacement at 20,000 connections through the real engine: two clients of 10,000 each
// (a client's fd limit is 20,000 here), then a new connectRate, which replaces both containers.
// Each old client's drain step (infra/clients/fleet.ts: `docker stop`, then its conntrack
// entries) must run before the docker provider removes that container: force-removing a client
// with 10,000 sockets is what failed with "did not receive an exit event". Then destroy and the
// residue audit. Needs npm run test:engine's setup.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { sh } from "../support/sh.js";
import {
  assertLabGone,
  disposeStack,
  engineProject,
  hostSysctls,
  netnsServer,
  newEngineStack,
  upOutputs,
} from "../support/engineLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const name = `engc${process.pid % 10_000}d`;
const CLIENTS = [`c1m-${name}-client-0`, `c1m-${name}-client-1`];
let engine: Engine;
let dir: string;
let stack: Stack;
let before0: Record<string, string>;

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  dir = engineProject(root, "c1m-engine-drain-");
  before0 = hostSysctls();
  stack = await newEngineStack(engine, dir, name);
});

after(async () => {
  if ((await disposeStack(stack)) && dir) rmSync(dir, { recursive: true, force: true });
});

const config = (connectRate: number) => ({
  "c1m-lab:server": {
    value: JSON.stringify(netnsServer(name, "10.215.3")),
  },
  "c1m-lab:clients": {
    value: JSON.stringify({ containers: 2, connectionsPerContainer: 10_000, connectRate, subnet: "172.30.241.0/24" }),
  },
  "c1m-lab:test": { value: JSON.stringify({ expect: "all", timeoutSeconds: 120, stallSeconds: 10, dashboard: false }) },
});

/** The running clients' full container ids, by name. */
const clientIds = () =>
  Object.fromEntries(
    CLIENTS.map((c) => [c, sh(`docker ps -q --no-trunc --filter name=^${c}$ --filter label=c1m-lab.stack=${name}`).trim()]),
  );

test("up: 2 clients × 10,000 connections, all 20,000 held", async () => {
  await stack.setAllConfig(config(5000));
  const o = await upOutputs(stack);
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 20_000);
  assert.deepEqual(o.perServerIp, { "10.215.3.2": 20_000 });
});

/** A container's lifecycle events since `since` (epoch seconds), with the signal or exit code. */
function dockerActions(id: string, since: string): string[] {
  const format =
    '{{.Action}}{{with index .Actor.Attributes "signal"}} signal={{.}}{{end}}{{with index .Actor.Attributes "exitCode"}} exit={{.}}{{end}}';
  return sh(
    `sleep 1; docker events --since ${since} --until $(date +%s) --filter type=container --filter container=${id} --format '${format}'`,
  )
    .trim()
    .split("\n")
    .filter((a) => /^(kill|die|stop|destroy)\b/.test(a));
}

/** "start|done OP NAME" for every step the engine reports, in order. */
function stepLog(log: string[]) {
  return (e: EngineEvent) => {
    const pre = e.resourcePreEvent?.metadata;
    const done = e.resOutputsEvent?.metadata;
    if (pre) log.push(`start ${pre.op} ${pre.urn.split("::").pop()}`);
    if (done) log.push(`done ${done.op} ${done.urn.split("::").pop()}`);
  };
}

test("a new connectRate replaces both clients: each is drained (stopped on SIGTERM) before docker removes it, and all 20,000 connect again", async () => {
  const old = clientIds();
  for (const c of CLIENTS) assert.match(old[c]!, /^[0-9a-f]{64}$/, `${c} runs`);
  const since = sh("date +%s").trim();
  const steps: string[] = [];
  let printed = "";
  await stack.setAllConfig(config(4000));
  const r = await stack.up({ onEvent: stepLog(steps), onOutput: (s) => (printed += s) });
  assert.ok(!/did not receive an exit event/.test(printed), printed);
  for (const c of CLIENTS) {
    const drained = steps.indexOf(`done delete-replaced clients-${c}-drain`);
    const removed = steps.indexOf(`start delete-replaced clients-${c}`);
    assert.ok(drained >= 0 && removed >= 0, `both steps ran for ${c}:\n${steps.join("\n")}`);
    assert.ok(drained < removed, `${c}: drained before it is removed:\n${steps.join("\n")}`);
    // What docker saw: the drain's `docker stop` ends the client on SIGTERM (exit 0), and
    // only then is it removed. The provider alone stops with no grace: SIGTERM, SIGKILL at once, exit 137.
    assert.deepEqual(dockerActions(old[c]!, since), ["kill signal=15", "die exit=0", "stop", "destroy"], c);
  }
  const now = clientIds();
  for (const c of CLIENTS) assert.notEqual(now[c], old[c], `${c} is a new container`);
  assert.equal(r.outputs.verdict?.value, "pass");
  assert.equal(r.outputs.total?.value, 20_000);
});

test("destroy: nothing of the lab is left, sysctls as before", async () => {
  await stack.destroy();
  assertLabGone(name, before0);
});
