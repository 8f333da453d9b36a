// A lab stack through the real engine, for test/engine/: a temp Pulumi project (the compiled
// program linked in, a file:// backend inside), the stack's environment, and what every case
// checks after a destroy (nothing of a netns lab left, host sysctls as before).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation/index.js";
import type { Engine } from "../../infra/cli/engine.js";
import { runScript, sh } from "./sh.js";
import { cmd, q } from "../../infra/shell.js";
import { tuningDeleteScript } from "../../infra/server/netns/scripts/tuning.js";
import { qemuStopScript } from "../../infra/server/vm/qemu/scripts.js";

const HOST_SYSCTLS = [
  "fs.file-max",
  "fs.nr_open",
  "net.netfilter.nf_conntrack_max",
  "net.netfilter.nf_conntrack_buckets",
  "net.ipv4.ip_forward",
];

/** The host-wide sysctls a lab may raise, as they are now (a snapshot to compare after destroy). */
export const hostSysctls = (): Record<string, string> =>
  Object.fromEntries(HOST_SYSCTLS.map((k) => [k, readFileSync(`/proc/sys/${k.replace(/\./g, "/")}`, "utf8").trim()]));

/** A temp Pulumi project: our Pulumi.yaml, the compiled program and node_modules, and a state dir. */
export function engineProject(root: string, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const f of ["Pulumi.yaml", "package.json", "dist", "node_modules"]) symlinkSync(join(root, f), join(dir, f));
  mkdirSync(join(dir, "state"));
  return dir;
}

/** A stack in that project, its secrets under `passphrase`, plugins never fetched. */
export function newEngineStack(engine: Engine, dir: string, stackName: string, passphrase = "engine-e2e"): Promise<Stack> {
  return LocalWorkspace.createStack(
    { stackName, workDir: dir },
    {
      pulumiCommand: engine.command,
      envVars: {
        PULUMI_BACKEND_URL: `file://${join(dir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: passphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        // The program's pinned facts (infra/plan/pinned.ts) in the test's own directory.
        C1M_PINNED_DIR: join(dir, "pinned"),
      },
    },
  );
}

/**
 * What a stack still holds after a failed case: destroyed through the engine (tried twice: a
 * provider plugin can fail to start on a loaded machine), then removed. False when it could not
 * be destroyed: the caller then keeps the project dir, whose state is what can still remove it.
 */
export async function disposeStack(stack: Stack | undefined): Promise<boolean> {
  if (!stack) return true;
  await stack.cancel().catch(() => undefined); // a lock a killed update left
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await stack.destroy();
      await stack.workspace.removeStack(stack.name).catch(() => undefined);
      return true;
    } catch (e) {
      console.error(`after: destroy of ${stack.name} failed (attempt ${attempt}): ${(e as Error).message}`);
    }
  }
  console.error(`after: ${stack.name} is kept in ${stack.workspace.workDir} (its state, to see what failed)`);
  const r = runScript(scrubLabScript(stack.name));
  console.error(`after: removed ${stack.name}'s lab without the engine: ${r.stdout.trim() || "nothing found"}${r.stderr.trim()}`);
  return false;
}

/**
 * Everything of the lab of `stack` on this machine, removed without the engine (a test's last
 * resort when destroy failed): the VM, containers, networks, images, NAT and filter rules, links
 * and namespaces named or marked for it, the host sysctls its tuning recorded, its directories.
 */
export function scrubLabScript(stack: string): string {
  const marker = `c1m-lab:${stack}`;
  const vmDir = `/var/lib/c1m-lab/${stack}/qemu`;
  const stateDir = `/run/c1m-lab/${stack}`;
  return [
    `if [ -d ${q(vmDir)} ]; then bash -c ${q(qemuStopScript({ dir: vmDir }))}; fi`,
    `ids=$(docker ps -aq --filter ${q(`label=c1m-lab.stack=${stack}`)}; docker ps -aq --filter ${q(`label=c1m-lab.image-of=${stack}`)})`,
    `[ -z "$ids" ] || { docker rm -f $ids >/dev/null; echo "containers: $(echo $ids | wc -w)"; }`,
    `nets=$(docker network ls -q --filter ${q(`label=c1m-lab.stack=${stack}`)})`,
    `[ -z "$nets" ] || { docker network rm $nets >/dev/null; echo "networks: $(echo $nets | wc -w)"; }`,
    `docker image rm -f ${cmd(`c1m-lab-client:${stack}`, `c1m-lab-node:${stack}`)} >/dev/null 2>&1 || true`,
    `for t in nat filter; do iptables -w -t $t -S | grep -F -- ${q(marker)} | sed 's/^-A /-D /' | while read -r rule; do eval "iptables -w -t $t $rule" && echo "rule: $t $rule"; done; done`,
    `for l in /sys/class/net/*; do n=$(basename "$l"); if [ "$(cat "$l/ifalias" 2>/dev/null)" = ${q(marker)} ] || [[ $n == ${q(`c1mt-${stack}`)}* ]]; then ip link del "$n" 2>/dev/null && echo "link: $n"; fi; done`,
    `for ns in $(ip netns list | awk '{print $1}' | grep -F -- ${q(`c1mt-${stack}`)} || true); do kill -9 $(ip netns pids "$ns") 2>/dev/null; ip netns del "$ns" && echo "namespace: $ns"; done`,
    `if [ -d ${q(`${stateDir}/sysctl.before`)} ]; then bash -c ${q(tuningDeleteScript({ stateDir }))} && echo "sysctls restored"; fi`,
    `rm -rf ${q(stateDir)} ${q(`/var/lib/c1m-lab/${stack}`)}`,
  ].join("\n");
}

/** The operations of a preview or update other than `same`. */
export const changes = (summary: Record<string, number | undefined>): [string, number | undefined][] =>
  Object.entries(summary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);

/** The namespace server of `stack` on `net`.0/24, its namespace and links named c1mt-<stack>… (the audit's names). */
export const netnsServer = (stack: string, net: string, extra: Record<string, unknown> = {}) => ({
  provider: "netns",
  namespace: `c1mt-${stack}`,
  hostInterface: `c1mt-${stack}h`,
  interface: `c1mt-${stack}s`,
  hostAddress: `${net}.1/24`,
  primaryAddress: `${net}.2/24`,
  ...extra,
});

/** `up`, then the stack outputs as plain values. */
export async function upOutputs(stack: Stack): Promise<Record<string, unknown>> {
  const r = await stack.up();
  return Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.value as unknown]));
}

/** The lab's NAT rules (marked c1m-lab:<stack>) in POSTROUTING. */
export const natRules = (stack: string): string[] =>
  sh("iptables -t nat -S POSTROUTING")
    .split("\n")
    .filter((l) => l.includes(`c1m-lab:${stack}`));

/**
 * Nothing of the lab of `stack` is left (a netns lab's namespace and links are named c1mt-<stack>…):
 * namespaces, links, NAT and filter rules, containers, networks, images, the state and stack dirs; the host
 * sysctls are as in `before`.
 */
export function assertLabGone(stack: string, before: Record<string, string>): void {
  assert.equal(runScript(`ip netns list | grep -c c1mt-${stack}`).stdout.trim(), "0");
  assert.equal(runScript(`ip -br link | grep -c c1mt-${stack}`).stdout.trim(), "0");
  assert.deepEqual(natRules(stack), []);
  assert.equal(sh(`iptables -S | grep -c 'c1m-lab:${stack}' || true`).trim(), "0");
  assert.equal(sh(`docker ps -aq --filter label=c1m-lab.stack=${stack}`).trim(), "");
  // The containers the image's classic build committed its steps from (they carry its labels).
  assert.equal(sh(`docker ps -aq --filter label=c1m-lab.image-of=${stack}`).trim(), "", "no build-step containers");
  assert.equal(sh(`docker network ls -q --filter label=c1m-lab.stack=${stack}`).trim(), "");
  assert.equal(sh(`docker images -q c1m-lab-client:${stack}; docker images -q c1m-lab-node:${stack}`).trim(), "");
  assert.equal(runScript(`ls /run/c1m-lab/${stack}`).code, 2, "no state dir");
  assert.equal(runScript(`ls /var/lib/c1m-lab/${stack}`).code, 2, "no stack directory (installed bundles)");
  assert.deepEqual(hostSysctls(), before);
}
