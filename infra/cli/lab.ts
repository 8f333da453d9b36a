// npm run lab:up | lab:down | lab:test [-- --stack NAME]: the README's first command.
// up/down drive the Pulumi engine through the Automation API with a local file:// state backend
// inside the project; test re-runs the connection test against the running lab. A stack whose
// config holds a secret (the ssh key of a VM stack) needs a real passphrase; the others get an
// empty one unless one is set. The engine works in .c1m-lab/engine-workdir/<stack>, on a copy of
// the stack file, so the encryptionsalt it writes never lands in a tracked file. Where the engine
// cannot run the program (no CLI, or its provider plugins are not installed and cannot be
// fetched), up/down say so and run the same steps without it (infra/direct) unless --engine
// insists; --engine also builds the CLI when there is none.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LocalWorkspace, type OutputMap, type Stack } from "@pulumi/pulumi/automation/index.js";
import { parseLabConfig, type LabConfig } from "../config/schema.js";
import { installConnectionTest, labDown, labUp } from "../direct/runner.js";
import { directLabSteps, refuseUnsupported } from "../direct/steps.js";
import { installedPath } from "../install/scripts.js";
import {
  engineResourceCount,
  readDirectRecord,
  refuseDirectOnEngine,
  refuseEngineOnDirect,
  removeDirectRecord,
  writeDirectRecord,
} from "../direct/owner.js";
import { EngineMissing, findEngine, missingPlugins, type Engine } from "./engine.js";
import { interruptAgain, stallWatch } from "./stall.js";
import { ensureStackFile, readStackConfig, stackFilePath, stackNames } from "../config/stackFile.js";
import { readHostFacts } from "../plan/readFacts.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
export class UsageError extends Error {}

const usage = `usage: npm run lab:up|lab:down|lab:test [-- --stack NAME] [--engine|--direct]
  lab:up    pulumi up on the stack through the Automation API (created if needed; state in .pulumi-state/)
  lab:down  pulumi destroy: removes every trace of the lab
  lab:test  re-run the connection test against the running lab, without redeploying
  --stack   one of: ${stackNames(root).join(", ")} (default local)
  --engine  fail rather than run without the Pulumi engine when it cannot run here; build the CLI if there is none
  --direct  run the lab's steps without the engine (netns stacks only)`;

/** Whether the stack's config holds a secret: the ssh private key of a VM stack not using the ssh-agent. */
export function needsSecret(config: LabConfig): boolean {
  return config.server.provider !== "netns" && !config.server.sshAgent;
}

/**
 * The environment every engine run gets: local state, no update check, the passphrase. With
 * PULUMI_CONFIG_PASSPHRASE_FILE set, PULUMI_CONFIG_PASSPHRASE is never set (the CLI reads it
 * first); otherwise a stack without secrets gets the empty one unless one is set. A stack with a
 * secret (`secrets`) refuses an empty or missing passphrase, since the secret would be encrypted
 * with a key anyone has. `root`: where the default state backend lives.
 */
export function engineEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: { secrets?: boolean; stack?: string; root?: string } = {},
): Record<string, string> {
  const base = {
    PULUMI_BACKEND_URL: env.PULUMI_BACKEND_URL ?? `file://${options.root ?? root}/.pulumi-state`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // The engine's copy of a stack file starts without the encryptionsalt: take it from the state.
    PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true",
  };
  const file = env.PULUMI_CONFIG_PASSPHRASE_FILE;
  // An empty PULUMI_CONFIG_PASSPHRASE would win over the file: main drops it from the environment.
  const phrase = env.PULUMI_CONFIG_PASSPHRASE || undefined;
  const refuse = (why: string) =>
    new UsageError(
      `${options.stack ? `stack ${options.stack}` : "the stack"} keeps c1m-lab:sshPrivateKey as a secret and ${why}: set PULUMI_CONFIG_PASSPHRASE_FILE ` +
        `to a file holding your passphrase (e.g. (umask 077; openssl rand -base64 24 > ~/.c1m-lab-passphrase); ` +
        `export PULUMI_CONFIG_PASSPHRASE_FILE=~/.c1m-lab-passphrase) or PULUMI_CONFIG_PASSPHRASE to it, ` +
        `or use your ssh-agent instead (server.sshAgent: true, no secret)`,
    );
  if (file && !phrase) {
    if (options.secrets) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (e) {
        throw refuse(`PULUMI_CONFIG_PASSPHRASE_FILE ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
      if (!text.trim()) throw refuse(`PULUMI_CONFIG_PASSPHRASE_FILE ${file} is empty`);
    }
    return base;
  }
  if (options.secrets && !phrase) {
    throw refuse(
      `${env.PULUMI_CONFIG_PASSPHRASE === undefined ? "no passphrase is set" : "PULUMI_CONFIG_PASSPHRASE is empty"} ` +
        `(a secret under the empty passphrase is decryptable by anyone)`,
    );
  }
  return { ...base, PULUMI_CONFIG_PASSPHRASE: phrase ?? "" };
}

/**
 * The engine's project directory for a stack, .c1m-lab/engine-workdir/<stack>: links to the
 * project (Pulumi.yaml, package.json, dist, node_modules, and reports/, where the connection test
 * run there writes) and a fresh copy of its stack file.
 * Pulumi writes the stack's encryptionsalt into the stack file it finds; here that is the copy,
 * never the tracked file (the state holds the salt too, for the next copy).
 */
export function engineWorkDir(projectRoot: string, stack: string): string {
  const dir = join(projectRoot, ".c1m-lab", "engine-workdir", stack);
  mkdirSync(dir, { recursive: true });
  mkdirSync(join(projectRoot, "reports"), { recursive: true });
  for (const f of ["Pulumi.yaml", "package.json", "dist", "node_modules", "reports"]) {
    const link = join(dir, f);
    try {
      unlinkSync(link);
    } catch {
      // not there yet
    }
    symlinkSync(join(projectRoot, f), link);
  }
  copyFileSync(stackFilePath(projectRoot, stack), join(dir, `Pulumi.${stack}.yaml`));
  return dir;
}

/** The stack selected, or created, in the engine's project directory (see engineWorkDir). */
export function openEngineStack(
  projectRoot: string,
  stackName: string,
  engine: Pick<Engine, "command">,
  envVars: Record<string, string>,
): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack(
    { stackName, workDir: engineWorkDir(projectRoot, stackName) },
    { pulumiCommand: engine.command, envVars },
  );
}

/** The engine, or why it cannot run this program here (then the direct runner may). */
async function engineOrWhy(opts: {
  build: boolean;
  offlinePlugins: boolean;
  envVars: Record<string, string>;
}): Promise<Engine | string> {
  let engine: Engine;
  try {
    engine = await findEngine(root, { build: opts.build });
  } catch (e) {
    if (e instanceof EngineMissing) {
      return opts.build ? e.message : `${e.message}; \`--engine\` builds it first (about 10 minutes cold)`;
    }
    throw e;
  }
  const missing = missingPlugins(engine, root, { ...process.env, ...opts.envVars });
  // A CLI of the user's own fetches plugins on first use; ours runs where github.com may not be reached.
  if (missing.length && (opts.offlinePlugins || engine.source === "engine:build")) {
    return (
      `the Pulumi CLI (${engine.bin}) has no provider plugin ${missing.join(", ")} and cannot fetch one here; ` +
      "build them from their sources with `npm run engine:providers` (see the README)"
    );
  }
  return engine;
}

/**
 * The last lines of a run, the same with or without the engine: the verdict and count, the
 * diagnosis, where the report is. `report`: the stack outputs' values, or verify's JSON.
 */
export function outcomeLines(report: Record<string, unknown>): string[] {
  const v = (k: string) => report[k];
  return [
    `verdict: ${String(v("verdict"))}  total: ${String(v("total"))} of ${String(v("target"))}`,
    ...(v("diagnosis") ? [String(v("diagnosis"))] : []),
    ...(v("reportDir") ? [`report: ${String(v("reportDir"))}`] : []),
  ];
}

/** What the engine-free path prints of verify's stdout (its report JSON): the engine path's last lines. */
export function verifySummary(stdout: string): string {
  try {
    const report = JSON.parse(stdout) as unknown;
    if (report && typeof report === "object") return `${outcomeLines(report as Record<string, unknown>).join("\n")}\n`;
  } catch {
    // not JSON: verify stopped before its report; show what it printed
  }
  return stdout;
}

const outputValues = (outputs: OutputMap) => Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.value as unknown]));

/** Seconds without an engine event after which a destroy counts as stalled (C1M_DESTROY_STALL_SECONDS). */
const stallSeconds = () => Number(process.env.C1M_DESTROY_STALL_SECONDS) || 360;

/**
 * Seen at 1M: a destroy stops ~20k-socket clients but loses a provider on the way ("connection
 * reset by peer", or no answer at all: see stall.ts); the next finishes in seconds. Up to three
 * tries, a stalled one interrupted; every failure is reported.
 */
async function destroyWithRetries(stack: Stack, bin: string, onOutput: (s: string) => void, tries = 3): Promise<void> {
  const failures: string[] = [];
  const stall = stallSeconds();
  for (let i = 1; i <= tries; i++) {
    const abort = new AbortController();
    const watch = stallWatch(stall * 1000, () => {
      console.error(`c1m-lab: destroy made no progress for ${stall} s: interrupting it`);
      abort.abort();
      setTimeout(() => interruptAgain(bin, stack.name), 15_000).unref();
    });
    try {
      await stack.destroy({ onOutput, onEvent: () => watch.poke(), signal: abort.signal });
      if (failures.length) console.error(`c1m-lab: destroy finished on try ${i}; earlier: ${failures.join("; ")}`);
      return;
    } catch (e) {
      const line = (e as Error).message.split("\n").find((l) => /error/i.test(l)) ?? (e as Error).message.split("\n")[0];
      failures.push(`try ${i}: ${watch.stalled ? `stalled for ${stall} s, interrupted` : line}`);
      console.error(`c1m-lab: destroy failed (${failures.at(-1)})${i < tries ? "; trying again" : ""}`);
    } finally {
      watch.stop();
    }
  }
  throw new Error(`destroy failed ${tries} times: ${failures.join("; ")}`);
}

/** The connection test's URN in the stack's state (lab:test re-runs that step alone). */
async function verifyUrn(stack: Stack): Promise<string> {
  const state = (await stack.exportStack()).deployment as { resources?: { urn: string }[] };
  const urns = (state.resources ?? []).map((r) => r.urn);
  const urn = urns.find((u) => u.endsWith("::connection-test-verify"));
  if (!urn)
    throw new UsageError(
      `stack ${stack.name} has no connection test in its state: run npm run lab:up -- --stack ${stack.name} first`,
    );
  // The test runs the verify its install step put in the stack's directory; a stack an earlier version brought up has none.
  if (!urns.some((u) => u.endsWith("::connection-test-install")))
    throw new UsageError(
      `stack ${stack.name} was brought up by an earlier c1m-lab, which did not install the connection test: run npm run lab:up -- --stack ${stack.name} first`,
    );
  return urn;
}

async function viaEngine(
  engine: Engine,
  action: "up" | "down" | "test",
  stackName: string,
  envVars: Record<string, string>,
): Promise<number> {
  refuseEngineOnDirect(root, stackName);
  if (!process.env.PULUMI_BACKEND_URL) mkdirSync(`${root}/.pulumi-state`, { recursive: true });
  console.error(`c1m-lab: Pulumi ${engine.command.version?.toString() ?? ""} from ${engine.source} (${engine.bin})`);
  const stack = await openEngineStack(root, stackName, engine, envVars);
  const onOutput = (s: string) => process.stdout.write(s);
  if (action === "up" || action === "test") {
    // test: the connection test step alone, replaced, so it runs anew and the outputs are its own.
    const only = action === "test" ? { replace: [await verifyUrn(stack)], target: [await verifyUrn(stack)] } : {};
    const result = await stack.up({ onOutput, ...only });
    console.log(outcomeLines(outputValues(result.outputs)).join("\n"));
  } else {
    await destroyWithRetries(stack, engine.bin, onOutput);
  }
  return 0;
}

function viaDirect(config: LabConfig, action: "up" | "down" | "test", stack: string): number {
  refuseUnsupported(config);
  if (action !== "test") refuseDirectOnEngine(engineEnv(process.env).PULUMI_BACKEND_URL!, "c1m-lab", stack);
  const { plan, steps } = directLabSteps(root, config, stack, readHostFacts());
  if (action === "down") {
    // What the up ran, not today's config: a renamed namespace or an old NAT rule goes too.
    const problems = labDown(readDirectRecord(root, stack) ?? steps);
    if (problems.length === 0) removeDirectRecord(root, stack);
    return problems.length ? 1 : 0;
  }
  if (action === "up") {
    if (readDirectRecord(root, stack)) {
      throw new UsageError(
        `stack ${stack} is already up without the engine: npm run lab:down -- --stack ${stack} --direct first`,
      );
    }
    writeDirectRecord(root, steps);
    try {
      labUp(steps);
    } catch (e) {
      removeDirectRecord(root, stack); // labUp tore down what it made
      throw e;
    }
  }
  if (action === "test") installConnectionTest(steps); // this checkout's verify, as an up would install it
  // verify's stdout is its report JSON (the engine's stack outputs): summed up as the engine path does.
  // Run in the project directory, as the engine's step is: reports/ is the checkout's.
  const r = spawnSync(process.execPath, [installedPath(steps.verifyInstall), ...steps.verifyArgs], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, C1M_PLAN: JSON.stringify(plan) },
  });
  process.stdout.write(verifySummary(r.stdout ?? ""));
  return r.status ?? 1;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      stack: { type: "string", default: "local" },
      engine: { type: "boolean", default: false },
      direct: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const action = positionals[0];
  if (values.help || !action) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const stack = values.stack;
  if (!stackNames(root).includes(stack))
    throw new UsageError(`--stack must be one of ${stackNames(root).join(", ")}, got ${stack}`);
  // A stack shipped as an example gets its own, untracked, file (where its secret may go).
  const copied = action === "up" || action === "down" ? ensureStackFile(root, stack) : undefined;
  if (copied) console.error(`c1m-lab: ${copied}`);
  // Validate before touching anything: the same errors `pulumi up` would give, sooner.
  const config = parseLabConfig(readStackConfig(root, stack));
  if (copied && config.server.provider === "ssh") {
    throw new UsageError(
      `stack ${stack} adopts your host: fill in host, hostKey, user, interface and addresses in Pulumi.${stack}.yaml, then run again`,
    );
  }

  if (action === "test") {
    // Without its namespace the server's addresses are nobody's here: never poll them elsewhere.
    if (config.server.provider === "netns" && !existsSync(`/run/netns/${config.server.namespace}`)) {
      throw new UsageError(
        `the lab of stack ${stack} is not up (no namespace ${config.server.namespace}); run npm run lab:up -- --stack ${stack} first`,
      );
    }
    // A stack the engine holds: its own test step, re-run through the engine (any provider, and
    // the stack outputs are the new verdict). Else the lab the direct runner brought up.
    const envVars = engineEnv(process.env, { secrets: needsSecret(config), stack });
    if (engineResourceCount(envVars.PULUMI_BACKEND_URL!, "c1m-lab", stack) > 0) {
      const engine = await engineOrWhy({ build: false, offlinePlugins: true, envVars });
      if (typeof engine === "string") throw new UsageError(`lab:test of an engine stack: ${engine}`);
      return viaEngine(engine, "test", stack, envVars);
    }
    if (config.server.provider !== "netns") throw new UsageError(`stack ${stack} is not up: npm run lab:up -- --stack ${stack}`);
    return viaDirect(config, "test", stack);
  }
  if (action !== "up" && action !== "down") {
    console.error(usage);
    return 2;
  }
  if (values.direct) return viaDirect(config, action, stack);
  // An empty PULUMI_CONFIG_PASSPHRASE (a leftover export) would hide the passphrase file from the CLI.
  if (process.env.PULUMI_CONFIG_PASSPHRASE_FILE && process.env.PULUMI_CONFIG_PASSPHRASE === "") {
    delete process.env.PULUMI_CONFIG_PASSPHRASE;
  }
  // Before any engine is found or built: a secret under an empty passphrase is refused here.
  const envVars = engineEnv(process.env, { secrets: needsSecret(config), stack });
  const engine = await engineOrWhy({
    build: values.engine,
    offlinePlugins: values.engine || process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION === "true",
    envVars,
  });
  if (typeof engine !== "string") return viaEngine(engine, action, stack, envVars);
  if (values.engine) throw new UsageError(`--engine: ${engine}`);
  if (config.server.provider !== "netns")
    throw new UsageError(`server.provider ${config.server.provider} needs the Pulumi engine: ${engine}`);
  console.error(`c1m-lab: ${engine}.\nc1m-lab: running the same steps without the engine (infra/direct); --engine refuses this.`);
  return viaDirect(config, action, stack);
}

// Run as the lab:* command, not when a test imports engineEnv and friends.
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? "") === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  main().then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`c1m-lab: ${(e as Error).message}`);
      process.exitCode = 2;
    },
  );
}
