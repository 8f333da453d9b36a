// Clients on two hosts through the real engine: this machine's Docker and a second host the lab
// makes here (a namespace with its own dockerd and sshd, reached only over ssh). Each host's NAT
// pool is 200 ports against one server IP, so the plateau is exactly 400, 200 per host, as the
// server counts them and as each host's Docker (read over ssh for the second) reports. Then: the
// second host cut off during the hold gives a verdict naming it; destroy leaves nothing on either
// host. A host unreachable at `up` fails naming it, with no client made on the other host.
// Needs npm run test:engine's setup.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { requireEngine } from "../support/engine.js";
import { runScript, sh } from "../support/sh.js";
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
const name = `engh${process.pid % 10_000}`;
const down = `engz${process.pid % 10_000}`;
const H = `h${process.pid % 1000}`;
/** The second host's names (infra/config/clientHosts.ts, infra/clients/hosts/steps.ts). */
const second = {
  namespace: `c1m-${name}-${H}`,
  link: `c1m-${H}-h`,
  stateDir: `/var/lib/c1m-lab/clients-${name}-${H}`,
  execRoot: `/run/c1m-lab/clients-${name}-${H}`,
};
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/eemYF8JoPM/xd6mj4jw8HIo4qWZRKiFJgxrkUPDBq";
let engine: Engine;
let dir: string;
let stack: Stack | undefined;
let downStack: Stack | undefined;
let before0: Record<string, string>;

before(async () => {
  engine = await requireEngine(root, { plugins: true });
  dir = engineProject(root, "c1m-engine-two-hosts-");
  before0 = hostSysctls();
  stack = await newEngineStack(engine, dir, name);
});

after(async () => {
  runScript(`ip link set ${second.link} up 2>/dev/null || true`);
  const a = await disposeStack(stack);
  const b = await disposeStack(downStack);
  if (a && b && dir) rmSync(dir, { recursive: true, force: true });
});

const config = (stallSeconds: number) => ({
  "c1m-lab:server": { value: JSON.stringify(netnsServer(name, "10.215.6")) },
  "c1m-lab:clients": {
    value: JSON.stringify({
      containers: 1,
      connectionsPerContainer: 300,
      natPortRange: "40000-40199",
      connectTimeoutMs: 2000,
      subnet: "172.30.246.0/24",
      hosts: [
        { name: "local", docker: "local" },
        { name: H, docker: "ssh://root@10.218.6.2:22", netns: { hostAddress: "10.218.6.1/24" }, subnet: "172.30.247.0/24" },
      ],
    }),
  },
  "c1m-lab:test": { value: JSON.stringify({ expect: "plateau", timeoutSeconds: 60, stallSeconds, dashboard: false }) },
});

test("up: 200 per host through each host's own NAT pool, 400 in all, each host's Docker read (over ssh for the second)", async () => {
  await stack!.setAllConfig(config(4));
  const o = await upOutputs(stack!);
  assert.equal(o.verdict, "plateau-as-expected", String(o.diagnosis));
  assert.equal(o.total, 400);
  assert.deepEqual(o.perHost, { local: 200, [H]: 200 });
  // As expected (not half-open): the clients' 400 (each host's Docker) agree with the server's.
  assert.match(String(o.diagnosis), new RegExp(`Limited per client host: .*${H} 200 of 300 \\(nat-pool`));
  // The second host's containers are on its own dockerd, not this machine's.
  assert.equal(sh(`docker ps -q --filter label=c1m-lab.stack=${name}`).trim().split("\n").length, 1);
});

test("the second host cut off during the hold: the verdict names it", async () => {
  // A longer stall window reruns the test (a new flag) and leaves time to cut the link mid-test.
  await stack!.setAllConfig(config(10));
  let cut = false;
  const lines: string[] = [];
  const onOutput = (line: string) => {
    lines.push(line);
    if (!cut && /\[verify +\d/.test(line)) {
      cut = true;
      runScript(`ip link set ${second.link} down`);
    }
  };
  let message = "";
  try {
    await stack!.up({ onOutput });
  } catch (e) {
    message = (e as Error).message;
  } finally {
    runScript(`ip link set ${second.link} up`);
  }
  assert.ok(cut, "the test started");
  const said = `${lines.join("\n")}\n${message}`;
  assert.notEqual(message, "", "the update fails");
  assert.match(said, new RegExp(`FAIL — Client host ${H} was lost at [0-9.]+ s \\(`));
  assert.match(said, new RegExp(`hosts local 200 · ${H} 200 unreachable`));
});

test("destroy leaves nothing on either host: the second host's dockerd, sshd, namespace, link, rules and dirs are gone", async () => {
  await stack!.setAllConfig(config(4));
  await stack!.destroy();
  assertLabGone(name, before0);
  assert.equal(runScript(`ip netns list | grep -c '^${second.namespace}\\b'`).stdout.trim(), "0", "namespace");
  assert.equal(runScript(`ip link show ${second.link}`).code, 1, "link");
  assert.equal(sh(`iptables -S FORWARD | grep -c -- 'c1m-lab:${name}:${H}' || true`).trim(), "0", "FORWARD rules");
  assert.equal(sh(`grep -c -- '${second.stateDir}' /proc/self/mounts || true`).trim(), "0", "mounts");
  assert.equal(
    sh(`pgrep -fc -- '[${second.stateDir[0]}]${second.stateDir.slice(1)}' || true`).trim(),
    "0",
    "dockerd, containerd, sshd",
  );
  assert.equal(existsSync(second.stateDir), false, "state dir");
  assert.equal(existsSync(second.execRoot), false, "exec root");
  await stack!.workspace.removeStack(name);
  stack = undefined;
});

test("a host unreachable at up fails naming it, before any client is made on the other host", async () => {
  downStack = await newEngineStack(engine, dir, down);
  // Taken now: another lab on this machine may have raised a limit since the first case.
  const sysctls = hostSysctls();
  await downStack.setAllConfig({
    "c1m-lab:server": { value: JSON.stringify(netnsServer(down, "10.215.7")) },
    "c1m-lab:clients": {
      value: JSON.stringify({
        containers: 1,
        connectionsPerContainer: 100,
        subnet: "172.30.248.0/24",
        // Loopback port 1: nothing listens, so ssh is refused at once, every try.
        hosts: [
          { name: "local", docker: "local" },
          { name: "gone", docker: "ssh://root@127.0.0.1:1", hostKey: PUBLIC_KEY },
        ],
      }),
    },
    "c1m-lab:test": { value: JSON.stringify({ expect: "all", timeoutSeconds: 30, stallSeconds: 4, dashboard: false }) },
    "c1m-lab:sshPrivateKey": { value: "not-a-key", secret: true },
  });
  await assert.rejects(downStack.up(), /client host gone \(ssh:\/\/root@127\.0\.0\.1:1\) is unreachable/);
  assert.equal(sh(`docker ps -aq --filter label=c1m-lab.stack=${down}`).trim(), "", "no client container on local");
  assert.equal(sh(`docker network ls -q --filter label=c1m-lab.stack=${down}`).trim(), "", "no client network on local");
  assert.equal(sh(`docker images -q c1m-lab-client:${down}`).trim(), "", "no client image on local");
  assert.equal(existsSync(`/var/lib/c1m-lab/ssh-${down}-gone`), false, "the failed access step's directory and key");
  await downStack.destroy();
  assertLabGone(down, sysctls);
  await downStack.workspace.removeStack(down);
  downStack = undefined;
});
