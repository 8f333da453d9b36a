// A qemu stack through the real engine: `up` boots a VM here (TCG: minutes), with the ssh key as a
// Pulumi secret under a passphrase; the key (and the VM's host key, made here) must then be in no
// file of the backend, no `pulumi stack export`, nothing `up` printed. Then the VM is killed out of band and `destroy`
// must still finish and leave nothing (VM process, disk, tap, bridge, rules, clients). Its own
// file: the boot dominates its time. Needs npm run test:engine's setup, qemu and npm run vm:image.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { keyPair, requireVmTools } from "../support/qemuVm.js";
import { runScript } from "../support/sh.js";
import { assertLabGone, disposeStack, engineProject, hostSysctls, newEngineStack } from "../support/engineLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const id = process.pid % 10_000;
const name = `engc${id}q`;
const bridge = `engcb${id}`;
const tap = `engct${id}`;
const stackDir = `/var/lib/c1m-lab/${name}`; // the stack's own directory: the VM's disk, seed and host key
const vmDir = `${stackDir}/qemu`;
const PASSPHRASE = "engine-qemu-passphrase";
let engine: Engine;
let dir: string;
let keyDir: string;
let stack: Stack;
let before0: Record<string, string>;
let key: { privateKey: string; publicKey: string; path: string };
let otherKey: typeof key;
let printed = "";

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  const image = requireVmTools();
  dir = engineProject(root, "c1m-engine-qemu-");
  keyDir = mkdtempSync(join(tmpdir(), "c1m-engine-key-"));
  key = keyPair(keyDir);
  mkdirSync(join(keyDir, "other"));
  otherKey = keyPair(join(keyDir, "other"));
  before0 = hostSysctls();
  stack = await newEngineStack(engine, dir, name, PASSPHRASE);
  await stack.setAllConfig({
    "c1m-lab:server": {
      value: JSON.stringify({
        provider: "qemu",
        acceleration: "tcg",
        image: image.disk,
        kernel: image.kernel,
        initrd: image.initrd,
        cpus: 2,
        memoryMiB: 1024,
        bridge,
        tap,
        hostAddress: "10.216.0.1/24",
        primaryAddress: "10.216.0.2/24",
        secondaryAddresses: { count: 1 },
        sshPublicKeyPath: `${key.path}.pub`,
        user: "c1m",
        interface: "eth0",
      }),
    },
    "c1m-lab:clients": { value: JSON.stringify({ containers: 2, connectionsPerContainer: 100, subnet: "172.30.242.0/24" }) },
    "c1m-lab:test": { value: JSON.stringify({ expect: "all", timeoutSeconds: 180, stallSeconds: 20, dashboard: false }) },
    "c1m-lab:sshPrivateKey": { value: key.privateKey, secret: true },
  });
});

after(async () => {
  if ((await disposeStack(stack)) && dir) rmSync(dir, { recursive: true, force: true });
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

test(
  "up of a qemu stack (the VM booted here under TCG): all 200 connections reach its 2 addresses",
  { timeout: 1_200_000 },
  async (t) => {
    const started = Date.now();
    const r = await stack.up({ onOutput: (s) => (printed += s) });
    t.diagnostic(`qemu: pulumi up took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Where the time went: each step's own time as the engine printed it, the slow ones.
    const slow = [...printed.matchAll(/ (\S+) created \(((\d+m)?\d+(\.\d+)?s)\)/g)]
      .filter((m) => m[3] || Number.parseFloat(m[2]!) >= 5)
      .map((m) => `${m[1]} ${m[2]}`);
    t.diagnostic(`qemu: steps of 5 s or more: ${slow.join(", ")}`);
    assert.equal(r.outputs.verdict?.value, "pass");
    assert.equal(r.outputs.total?.value, 200);
    assert.deepEqual(r.outputs.perServerIp?.value, { "10.216.0.2": 100, "10.216.0.3": 100 });
  },
);

const bodyLines = (privateKey: string) => privateKey.split("\n").filter((l) => l.length >= 20 && !l.startsWith("-----"));
/**
 * A key's own base64 body, line by line (what any copy of it, escaped or not, contains), without
 * the lines every ed25519 key shares (the format's header).
 */
const ownLines = (privateKey: string) => {
  const shared = new Set(bodyLines(otherKey.privateKey));
  return bodyLines(privateKey).filter((l) => !shared.has(l));
};

/** Every file under these paths that holds one of `lines` (grep: the VM's overlay is large and binary). */
function filesWith(lines: string[], ...paths: string[]): string[] {
  const patterns = join(keyDir, "other", "key-lines");
  writeFileSync(patterns, `${lines.join("\n")}\n`);
  const r = runScript(`grep -rlaF -f ${patterns} -- ${paths.join(" ")}`, { timeoutMs: 300_000 });
  assert.ok(r.code === 0 || r.code === 1, `grep: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

test("the ssh key and the VM's host key are in no backend file, stack export or output; the ssh key only as ciphertext, under the passphrase", async () => {
  // The VM's host key is made here (infra/server/vm/scripts/hostKey.ts); only its public half may reach the state.
  const keys = {
    "the ssh key": ownLines(key.privateKey),
    "the VM's host key": ownLines(readFileSync(`${vmDir}/ssh_host_ed25519_key`, "utf8")),
  };
  for (const [what, lines] of Object.entries(keys)) assert.ok(lines.length >= 3, `${what} has a body to look for`);
  assert.deepEqual(filesWith(keys["the ssh key"], key.path), [key.path], "the search finds a key where it is");
  const env = { ...process.env, ...stack.workspace.envVars };
  const exported = runScript(`${engine.bin} stack export --show-secrets=false --stack ${name}`, { env, cwd: dir });
  assert.equal(exported.code, 0, exported.stderr);
  const stackFile = readFileSync(join(dir, `Pulumi.${name}.yaml`), "utf8");
  for (const [what, lines] of Object.entries(keys)) {
    for (const [where, text] of Object.entries({
      "stack export": exported.stdout,
      "up's output": printed,
      "the stack file": stackFile,
    })) {
      assert.deepEqual(
        lines.filter((l) => text.includes(l)),
        [],
        `${where} holds no line of ${what}`,
      );
    }
    assert.deepEqual(filesWith(lines, join(dir, "state")), [], `no backend file holds ${what}`);
  }
  assert.deepEqual(filesWith(keys["the ssh key"], stackDir), [], "nor the stack's files here (overlay, seed, bundles)");
  // The state does hold the ssh key, as ciphertext: the ssh connections and the wait-for-ssh step use it.
  assert.match(exported.stdout, /"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"/);
  assert.match(exported.stdout, /"ciphertext": "v1:/);
  assert.match(stackFile, /^encryptionsalt: v1:\S+$/m);
  assert.match(stackFile, /c1m-lab:sshPrivateKey:\n\s+secure: v1:\S+/);
  const get = (passphrase: string) =>
    runScript(`${engine.bin} config get c1m-lab:sshPrivateKey --stack ${name}`, {
      env: { ...env, PULUMI_CONFIG_PASSPHRASE: passphrase },
      cwd: dir,
    });
  assert.notEqual(get("").code, 0, "the empty passphrase does not decrypt it");
  assert.equal(get(PASSPHRASE).stdout.trim(), key.privateKey.trim(), "the stack's passphrase does");
});

test(
  "the VM killed out of band (SIGKILL to qemu): destroy finishes and leaves no VM, disk, tap, bridge, rule or client",
  { timeout: 600_000 },
  async (t) => {
    const pid = Number(readFileSync(`${vmDir}/qemu.pid`, "utf8").trim());
    assert.match(
      readFileSync(`/proc/${pid}/cmdline`, "latin1"),
      new RegExp(`process=c1m-lab-${tap}`),
      "the pid file names our VM",
    );
    process.kill(pid, "SIGKILL");
    const ours = () => runScript(`pgrep -f 'process=c1m-lab-[${tap[0]}]${tap.slice(1)}'`).code === 0;
    for (let i = 0; i < 50 && ours(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!ours(), "the VM is gone");
    const started = Date.now();
    await stack.destroy();
    t.diagnostic(`qemu: pulumi destroy with the VM killed took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.ok(!ours(), "no qemu of ours runs");
    assert.equal(runScript(`ip link show ${tap}`).code, 1, "no tap");
    assert.equal(runScript(`ip link show ${bridge}`).code, 1, "no bridge");
    assert.ok(!existsSync(`${vmDir}/overlay.qcow2`) && !existsSync(`${vmDir}/seed.iso`), "no overlay or seed");
    assertLabGone(name, before0);
  },
);
