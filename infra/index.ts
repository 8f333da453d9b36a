// The Pulumi program's edge: read and validate config, plan, build the lab, export the report.
// Bad config or an infeasible target stops here, before any resource is registered.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { planCapacity, PlanError } from "./plan/capacity.js";
import { type CapacityPlan } from "../shared/plan.js";
import { ConfigError, configWarnings, labClientHosts, parseLabConfig, type LabConfig } from "./config/schema.js";
import { hostFactsScript, parseHostFacts } from "./plan/facts.js";
import type { HostFacts } from "./plan/capacity.js";
import { Lab, type LabClientHosts } from "./lab.js";
import { clientHostSteps } from "./clients/hosts/steps.js";
import { subnetOf } from "./plan/net.js";
import { ScriptInputError, q, script } from "./shell.js";
import { localScript } from "./localScript.js";
import { pinFacts, pinnedFile } from "./plan/pinned.js";
import { secretConfigProblem, SSH_KEY_HINT, SSH_PRIVATE_KEY, withoutSecretKeys } from "./config/secrets.js";
import { labSteps } from "./server/netns/steps.js";
import { type LabPaths } from "./plan/paths.js";
import { vmLabSteps, VmStepsError } from "./server/vm/steps.js";
import { BundleError } from "./install/bundle.js";
import { localLabPaths } from "./install/stage.js";

const NAMESPACE = "c1m-lab";

/**
 * A RunError the SDK prints as its message alone. It also formats the error for its trace with
 * util.inspect(err, { colors: true }), which on Node 20 spins ~20 s and then throws on a stack
 * that crosses node_modules: a stack of the message alone makes a config error come back at once.
 */
function runError(message: string): pulumi.RunError {
  const e = new pulumi.RunError(message);
  Object.defineProperty(e, "stack", { value: message, configurable: true, writable: true });
  return e;
}

/** Whether Pulumi marked `c1m-lab:key` secret (the SDK's own check; internal, so typed here). */
function isSecret(key: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  return runtime.isConfigSecret?.(`${NAMESPACE}:${key}`) ?? false;
}

/** Stack config as Pulumi hands it over: `c1m-lab:key` → string; secrets left out (read with getSecret). */
function rawConfig(): Record<string, unknown> {
  const ours = Object.fromEntries(
    Object.entries(pulumi.runtime.allConfig())
      .filter(([k]) => k.startsWith(`${NAMESPACE}:`))
      .map(([k, v]) => [k.slice(NAMESPACE.length + 1), v]),
  );
  const problem = secretConfigProblem(Object.keys(ours), isSecret);
  if (problem) throw runError(problem);
  return withoutSecretKeys(ours);
}

/**
 * The ssh private key, as a secret Output; its text never reaches a command line or a log.
 * Undefined with server.sshAgent: ssh then uses the agent at SSH_AUTH_SOCK, which must be here.
 */
function sshPrivateKey(provider: string, agent: boolean): pulumi.Output<string> | undefined {
  if (agent) {
    if (!process.env.SSH_AUTH_SOCK) {
      throw runError(
        `server.sshAgent is true but SSH_AUTH_SOCK is not set: start an agent with your key ` +
          `(eval "$(ssh-agent)"; ssh-add ~/.ssh/id_ed25519) in the shell that runs the lab, or set server.sshAgent: false and ${SSH_KEY_HINT}`,
      );
    }
    return undefined;
  }
  const key = new pulumi.Config(NAMESPACE).getSecret(SSH_PRIVATE_KEY);
  if (!key) {
    throw runError(
      `server.provider ${provider} needs the ssh private key as a secret: ${SSH_KEY_HINT} (it is stored encrypted, never printed); ` +
        `or set server.sshAgent: true to use your ssh-agent instead`,
    );
  }
  return key;
}

function expandHome(path: string, home: string): string {
  return path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
}

/** The Lab on a VM: the secret key, the public key for cloud-init. */
function vmLab(config: LabConfig, plan: CapacityPlan, stack: string, paths: LabPaths, home: string, hosts: LabClientHosts): Lab {
  const server = config.server;
  if (server.provider === "netns") throw new Error("vmLab needs a VM provider");
  const privateKey = sshPrivateKey(server.provider, server.sshAgent);
  let sshPublicKey: string | undefined;
  if (server.provider === "multipass" || server.provider === "qemu") {
    const file = expandHome(server.sshPublicKeyPath, home);
    try {
      sshPublicKey = readFileSync(file, "utf8");
    } catch (e) {
      throw runError(
        `server.sshPublicKeyPath: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ` +
          `the ${server.provider} VM gets this public key; its private half is c1m-lab:${SSH_PRIVATE_KEY}`,
      );
    }
  }
  const steps = vmLabSteps(config, plan, stack, paths, { sshPublicKey, home });
  return new Lab("lab", { config, plan, steps, paths, sshPrivateKey: privateKey, ...hosts });
}

/**
 * With clients.hosts: each host's steps (lab traffic goes to the server's veth subnet, or to each
 * server address on a VM), and the ssh key for hosts that do not use the agent.
 */
function clientHostsOf(config: LabConfig, plan: CapacityPlan, stack: string, paths: LabPaths): LabClientHosts {
  if (!config.clients.hosts) return {};
  const server = config.server;
  const destinations = server.provider === "netns" ? [subnetOf(server.hostAddress)] : plan.serverAddresses.map((a) => `${a}/32`);
  const hosts = labClientHosts(config, stack);
  const needsKey = hosts.some((h) => h.docker.kind === "ssh" && !h.netns && !h.sshAgent);
  const agent = hosts.some((h) => h.docker.kind === "ssh" && !h.netns && h.sshAgent);
  if (agent && !process.env.SSH_AUTH_SOCK) {
    throw runError(
      "c1m-lab: a client host has sshAgent: true but SSH_AUTH_SOCK is not set: start an agent with your key in the shell that runs the lab",
    );
  }
  const key = needsKey ? sshPrivateKey("client hosts over ssh", false) : undefined;
  return {
    clientHosts: {
      steps: hosts.map((h) => clientHostSteps(config, plan, stack, paths, h, destinations)),
      ...(key ? { sshPrivateKey: key } : {}),
    },
  };
}

/** The facts of the machine `pulumi up` runs on (its stdout is JSON for the plan, not for the terminal). */
async function gatherHostFacts(): Promise<HostFacts> {
  const result = await command.local.run({ command: hostFactsScript(), interpreter: ["/bin/bash", "-c"], logging: "stderr" });
  return parseHostFacts(result.stdout);
}

export default async function main() {
  const stack = pulumi.getStack();
  let lab: Lab;
  try {
    const config = parseLabConfig(rawConfig());
    const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
    const live = await gatherHostFacts();
    // In the Pulumi project directory the engine runs the program in (lab:up: .c1m-lab/engine-workdir/<stack>).
    const pinnedAt = pinnedFile(process.cwd(), stack);
    const pinned = pinFacts(pinnedAt, { fdHardLimit: live.fdHardLimit, node: process.execPath, home: homedir() });
    const facts = { ...live, fdHardLimit: pinned.fdHardLimit };
    const plan = planCapacity(config, facts);
    for (const warning of [...configWarnings(config), ...plan.warnings, ...plan.liveWarnings]) pulumi.log.warn(warning);
    // The checkout is read here only: the bundles are built from it and staged by their content.
    const paths = localLabPaths(root, stack, pinned);
    const hosts = clientHostsOf(config, plan, stack, paths);
    lab =
      config.server.provider === "netns"
        ? new Lab("lab", { config, plan, steps: labSteps(config, plan, stack, paths), paths, ...hosts })
        : vmLab(config, plan, stack, paths, pinned.home, hosts);
    // The pinned values go with the stack: the next lab under this name reads them anew. The
    // delete runs where the program does (the project directory): named relative to it, a moved
    // checkout changes nothing.
    const pinnedForDelete = pinnedAt.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), pinnedAt) : pinnedAt;
    localScript(
      "pinned-facts",
      {
        create: script("pinned facts: kept", ["true"]),
        delete: script("pinned facts remove", [`rm -f -- ${q(pinnedForDelete)}`]),
      },
      {},
    );
    return {
      target: plan.target,
      predicted: plan.predicted,
      ceiling: plan.ceiling,
      serverAddresses: plan.serverAddresses,
      metricsUrl: lab.metricsUrl,
      verdict: lab.report.apply((r) => r.verdict ?? null),
      total: lab.report.apply((r) => r.total ?? null),
      perServerIp: lab.report.apply((r) => r.perServerIp ?? null),
      bindingLimit: lab.report.apply((r) => r.bindingLimit ?? plan.bindingLimit),
      diagnosis: lab.report.apply((r) => r.diagnosis ?? null),
      reportDir: lab.report.apply((r) => r.reportDir ?? null),
      rtt: lab.report.apply((r) => r.rtt ?? null),
      generator: lab.report.apply((r) => r.generator ?? null),
      // With clients.hosts: the connections the server holds from each host.
      ...(config.clients.hosts ? { perHost: lab.report.apply((r) => r.perHost ?? null) } : {}),
      // With test.mode find-limit: the last step that held, what stopped the stepping, the curve.
      ...(config.test.mode === "find-limit"
        ? {
            capacity: lab.report.apply((r) => r.capacity ?? null),
            stoppedBy: lab.report.apply((r) => r.stoppedBy ?? null),
            curve: lab.report.apply((r) => r.curve ?? null),
          }
        : {}),
      // With test.scenario: what the storm or the flush found.
      ...(config.test.scenario === "reconnect-storm" ? { storm: lab.report.apply((r) => r.storm ?? null) } : {}),
      ...(config.test.scenario === "conntrack-flush"
        ? { conntrackFlush: lab.report.apply((r) => r.conntrackFlush ?? null) }
        : {}),
    };
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PlanError) throw runError(e.message);
    if (e instanceof VmStepsError || e instanceof BundleError || e instanceof ScriptInputError) {
      throw runError(`c1m-lab: ${e.message}`);
    }
    throw e;
  }
}
