// The lab through the real engine, end to end: `pulumi up` of a small NAT-wall stack, the
// outputs against literal values, `preview` with no changes, a config change that must leave
// nothing of the old config, `destroy` twice, then a residue audit against a snapshot taken
// before. Needs the CLI (npm run engine:build) AND the command and docker provider plugins,
// which `npm test` cannot count on (the Go module proxy does not serve them), so this suite is
// its own command: `npm run test:engine`. It fails, never skips, when something is missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { runScript, sh } from "../support/sh.js";
import {
  assertLabGone,
  disposeStack,
  engineProject,
  hostSysctls as sysctls,
  natRules as natRulesOf,
  netnsServer,
  newEngineStack,
  upOutputs,
} from "../support/engineLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const name = `eng${process.pid % 10_000}`;
let engine: Engine;
let dir: string;
let stack: Stack;
let before0: Record<string, string>;

const config = (natPortRange: string | undefined, baseImage?: string) => ({
  "c1m-lab:server": {
    value: JSON.stringify(netnsServer(name, "10.211.1")),
  },
  "c1m-lab:clients": {
    value: JSON.stringify({
      containers: 2,
      connectionsPerContainer: 1500,
      natPortRange,
      ...(baseImage ? { baseImage } : {}),
      connectTimeoutMs: 3000,
      subnet: "172.30.231.0/24",
    }),
  },
  "c1m-lab:test": {
    value: JSON.stringify({ expect: natPortRange ? "plateau" : "all", timeoutSeconds: 60, stallSeconds: 5, dashboard: false }),
  },
});

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  dir = engineProject(root, "c1m-engine-e2e-");
  before0 = sysctls();
  stack = await newEngineStack(engine, dir, name);
});

after(async () => {
  // Whatever a failed step left: destroy through the engine, then the stack and its files.
  if ((await disposeStack(stack)) && dir) rmSync(dir, { recursive: true, force: true });
});

const outputs = async (natPortRange: string | undefined, baseImage?: string) => {
  await stack.setAllConfig(config(natPortRange, baseImage));
  return upOutputs(stack);
};
const assertNothingLeft = () => assertLabGone(name, before0);
const natRules = () => natRulesOf(name);

test("up: the wall, with the outputs the plan predicts", async () => {
  const o = await outputs("40000-40999");
  assert.equal(o.verdict, "plateau-as-expected");
  assert.equal(o.total, 1000);
  assert.equal(o.target, 3000);
  assert.deepEqual(o.perServerIp, { "10.211.1.2": 1000 });
  assert.equal(o.bindingLimit, "nat-pool");
  assert.equal(natRules().length, 1);
  assert.match(natRules()[0]!, /--to-ports 40000-40999/);
});

test("preview right after: no changes", async () => {
  const p = await stack.preview();
  const changed = Object.entries(p.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
  assert.deepEqual(changed, []);
});

test("preview from another shell (another node binary first on PATH, a lower fd limit): no changes", async () => {
  const other = mkdtempSync(join(tmpdir(), "c1m-other-node-"));
  try {
    copyFileSync(process.execPath, join(other, "node")); // what nvm's node is: another binary at another path
    const env = { ...process.env, ...stack.workspace.envVars, PATH: `${other}:${process.env.PATH ?? ""}` };
    const r = runScript(
      `ulimit -Sn 8192 && ulimit -Hn 8192 && ${engine.bin} preview --non-interactive --diff=false --stack ${name} --json 2>/dev/null`,
      { env, cwd: dir, timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const changes = (JSON.parse(r.stdout) as { changeSummary: Record<string, number> }).changeSummary;
    assert.deepEqual(
      Object.entries(changes).filter(([op, n]) => op !== "same" && n > 0),
      [],
    );
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test("preview from another checkout of the project (a copy at another path, the same stack and state): no changes", async () => {
  // A checkout: the built program, the sources the bundles come from, the project and stack files; node_modules linked.
  const other = mkdtempSync(join(tmpdir(), "c1m-other-checkout-"));
  try {
    cpSync(join(root, "dist"), join(other, "dist"), {
      recursive: true,
      filter: (src) => !src.startsWith(join(root, "dist", "test")),
    });
    for (const f of ["workload", "shared", "package.json", "tsconfig.json", "Pulumi.yaml"]) {
      cpSync(join(root, f), join(other, f), { recursive: true });
    }
    cpSync(join(dir, `Pulumi.${name}.yaml`), join(other, `Pulumi.${name}.yaml`));
    // The project's own files go with it, its pinned facts too (the program names them relative to
    // the project directory it runs in).
    cpSync(join(dir, "pinned"), join(other, "pinned"), { recursive: true });
    symlinkSync(join(root, "node_modules"), join(other, "node_modules"));
    const there = await LocalWorkspace.selectStack(
      { stackName: name, workDir: other },
      { pulumiCommand: engine.command, envVars: { ...stack.workspace.envVars, C1M_PINNED_DIR: join(other, "pinned") } },
    );
    const p = await there.preview({ diff: true });
    assert.deepEqual(
      Object.entries(p.changeSummary).filter(([op, n]) => op !== "same" && n > 0),
      [],
      // Which steps, and which of their inputs, would change.
      p.stdout
        .split("\n")
        .filter((l) => /^\s*[-+~]|replace|update/.test(l))
        .slice(0, 60)
        .join("\n"),
    );
    assert.ok((p.changeSummary.same ?? 0) > 20, JSON.stringify(p.changeSummary));
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test("a new natPortRange: the old rule is gone, the clients start anew, the wall moves with it", async () => {
  const o = await outputs("41000-41999");
  assert.equal(o.total, 1000);
  assert.equal(natRules().length, 1);
  assert.match(natRules()[0]!, /--to-ports 41000-41999/);
});

test("a rebuilt client image (another base): the clients run the new one, the old image is removed after them", async () => {
  const old = sh(`docker images -q --no-trunc c1m-lab-client:${name}`).trim();
  assert.match(old, /^sha256:[0-9a-f]{64}$/);
  const o = await outputs("41000-41999", ensureLocalNodeBase());
  assert.equal(o.total, 1000);
  const now = sh(`docker images -q --no-trunc c1m-lab-client:${name}`).trim();
  assert.notEqual(now, old);
  const running = sh(`docker ps -q --filter label=c1m-lab.stack=${name} | xargs docker inspect -f '{{.Image}}'`)
    .trim()
    .split("\n");
  assert.deepEqual(running, [now, now]);
  assert.equal(runScript(`docker image inspect ${old}`).code, 1, "the old image is gone");
});

test("natPortRange removed: the old rule goes before the clients restart, and all connect", async () => {
  const o = await outputs(undefined, ensureLocalNodeBase());
  assert.equal(o.verdict, "pass");
  assert.equal(o.total, 3000);
  assert.deepEqual(natRules(), []);
});

test("natPortRange set again: the rule is back and the wall with it", async () => {
  const o = await outputs("40000-40999", ensureLocalNodeBase());
  assert.equal(o.verdict, "plateau-as-expected");
  assert.equal(o.total, 1000);
  assert.equal(natRules().length, 1);
});

test("the namespace deleted out of band (what a reboot does): up rebuilds the lab and tests it anew", async () => {
  const reportBefore = (await stack.outputs()).reportDir?.value as string;
  sh(`ip netns del c1mt-${name}`);
  const replaced: string[] = [];
  const r = await stack.up({
    onEvent: (e) => {
      const m = e.resOutputsEvent?.metadata;
      if (m?.op === "replace") replaced.push(m.urn.split("::").pop()!);
    },
  });
  for (const step of ["server-host-namespace", "secondary-ips-addresses", "tuning-sysctls", "connection-server-process"]) {
    assert.ok(replaced.includes(step), `${step} is rebuilt: replaced ${replaced.join(", ")}`);
  }
  assert.ok(replaced.includes("connection-test-verify"), "and the test runs anew");
  assert.equal(r.outputs.total?.value, 1000);
  assert.notEqual(r.outputs.reportDir?.value, reportBefore, "a new report, not the old one");
  assert.match(sh(`ip netns list`), new RegExp(`^c1mt-${name}\\b`, "m"));
  const p = await stack.preview();
  assert.deepEqual(
    Object.entries(p.changeSummary).filter(([op, n]) => op !== "same" && n > 0),
    [],
    "and the rebuilt lab is stable",
  );
});

test("destroy: nothing of the lab is left, sysctls as before; a second destroy is a no-op", async () => {
  await stack.destroy();
  assertNothingLeft();
  const again = await stack.destroy();
  assert.deepEqual(again.summary.resourceChanges ?? {}, {});
});

test("the namespace gone before destroy: destroy still removes everything else", async () => {
  await outputs("40000-40999", ensureLocalNodeBase());
  sh(`ip netns del c1mt-${name}`);
  await stack.destroy();
  assertNothingLeft();
});

test("a create that fails (the host-side link name is someone else's): nothing half-made, theirs kept", async () => {
  const theirs = `c1mt-${name}h`;
  sh(`ip link add ${theirs} type veth peer name ${theirs}p`);
  try {
    await stack.setAllConfig(config("40000-40999", ensureLocalNodeBase()));
    await assert.rejects(stack.up(), /server\.hostInterface: a link named .* exists and is not this lab's/);
    await stack.destroy();
    assert.equal(runScript(`ip link show ${theirs}`).code, 0, "their link is still there");
    assert.equal(runScript(`ip netns list | grep -c c1mt-${name}`).stdout.trim(), "0");
    assert.deepEqual(natRules(), []);
    assert.deepEqual(sysctls(), before0);
  } finally {
    runScript(`ip link del ${theirs}`);
  }
});

test("up killed (SIGKILL) while it creates the clients: destroy, as the README says, leaves nothing", async () => {
  await stack.setAllConfig(config("40000-40999", ensureLocalNodeBase()));
  const env = { ...process.env, ...stack.workspace.envVars };
  const cli = spawn(engine.bin, ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", name], { cwd: dir, env });
  let printed = "";
  const killed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no client creation seen in 180 s:\n${printed}`)), 180_000);
    cli.stdout.on("data", (d: Buffer) => {
      printed += d.toString();
    });
    // Killed once docker has the container and before the engine records it: a pending create.
    // Any state (-a): from docker's create on; by the time it runs the engine has often recorded it.
    const poll = setInterval(() => {
      if (runScript(`docker ps -aq --filter name=^c1m-${name}-client-0$`).stdout.trim() === "") return;
      clearInterval(poll);
      clearTimeout(timer);
      cli.kill("SIGKILL");
      resolve();
    }, 50);
    cli.on("exit", () => {
      clearInterval(poll);
      reject(new Error(`up ended before the clients were created:\n${printed}`));
    });
  });
  await killed;
  await new Promise((r) => setTimeout(r, 3000)); // the provider finishes what it had started
  // What makes this case: clients running that the state does not hold as created.
  const running = sh(`docker ps -aq --filter label=c1m-lab.stack=${name}`).trim().split("\n").filter(Boolean);
  const deployment = (await stack.exportStack()).deployment as { resources?: { type: string }[] };
  const known = (deployment.resources ?? []).filter((r) => r.type === "docker:index/container:Container").length;
  assert.ok(
    running.length > known,
    `the kill left clients the state does not know: ${running.length} in docker, ${known} in state`,
  );
  // The README's recovery: destroy (lab:down) through the engine; pending creates are the sweep's.
  await stack.cancel().catch(() => undefined);
  await stack.destroy();
  assertNothingLeft();
});

test("preview of a new qemu stack (what a plain `pulumi up` runs first) succeeds and creates nothing", async () => {
  const keyDir = mkdtempSync(join(tmpdir(), "c1m-engine-key-"));
  const qemu = await LocalWorkspace.createStack(
    { stackName: `${name}-qemu`, workDir: dir },
    { pulumiCommand: engine.command, envVars: stack.workspace.envVars },
  );
  try {
    sh(`ssh-keygen -q -t ed25519 -N '' -f ${keyDir}/id`);
    const image = `${homedir()}/.cache/c1m-lab/vm-image/current`;
    await qemu.setAllConfig({
      "c1m-lab:server": {
        value: JSON.stringify({
          provider: "qemu",
          image: `${image}/disk.qcow2`,
          kernel: `${image}/vmlinuz`,
          initrd: `${image}/initrd.img`,
          kernelArgs: "root=/dev/vda rw console=ttyS0 net.ifnames=0",
          bridge: `c1mtb${process.pid % 10_000}`,
          tap: `c1mtt${process.pid % 10_000}`,
          hostAddress: "10.212.0.1/24",
          primaryAddress: "10.212.0.2/24",
          secondaryAddresses: { count: 2 },
          sshPublicKeyPath: `${keyDir}/id.pub`,
          user: "c1m",
          interface: "eth0",
        }),
      },
      "c1m-lab:clients": { value: JSON.stringify({ containers: 2, connectionsPerContainer: 100, subnet: "172.30.232.0/24" }) },
      "c1m-lab:sshPrivateKey": { value: readFileSync(`${keyDir}/id`, "utf8"), secret: true },
    });
    const p = await qemu.preview();
    assert.ok((p.changeSummary.create ?? 0) > 20, JSON.stringify(p.changeSummary));
    assert.equal(runScript(`ip link show c1mtb${process.pid % 10_000}`).code, 1, "a preview made no bridge");
  } finally {
    await qemu.workspace.removeStack(qemu.name).catch(() => undefined);
    rmSync(keyDir, { recursive: true, force: true });
  }
});
