// npm run lab:up | lab:down | lab:test [-- --stack NAME]: the README's first command.
// up/down drive the Pulumi engine through the Automation API with a local file:// state backend
// inside the project and an empty passphrase unless one is set; test re-runs the connection
// test against the running lab. Where the engine cannot run the program (no CLI, or its
// provider plugins are not installed and cannot be fetched), up/down say so and run the same
// steps without it (infra/direct) unless --engine insists.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LocalWorkspace, type OutputMap } from "@pulumi/pulumi/automation/index.js";
import { planCapacity } from "../plan/capacity.js";
import { parseLabConfig, type LabConfig } from "../config/schema.js";
import { labDown, labUp } from "../direct/runner.js";
import { labSteps } from "../server/netns/steps.js";
import { EngineMissing, findEngine, missingPlugins, type Engine } from "./engine.js";
import { readStackConfig, stackNames } from "../config/stackFile.js";
import { readHostFacts } from "../plan/readFacts.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
class UsageError extends Error {}

const usage = `usage: npm run lab:up|lab:down|lab:test [-- --stack NAME] [--engine|--direct]
  lab:up    pulumi up on the stack through the Automation API (created if needed; state in .pulumi-state/)
  lab:down  pulumi destroy: removes every trace of the lab
  lab:test  re-run the connection test against the running lab, without redeploying
  --stack   one of: ${stackNames(root).join(", ")} (default local)
  --engine  fail rather than run without the Pulumi engine when it cannot run here
  --direct  run the lab's steps without the engine (netns stacks only)`;

/** The environment every engine run gets: local state, no update check. */
export function engineEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    PULUMI_BACKEND_URL: env.PULUMI_BACKEND_URL ?? `file://${root}/.pulumi-state`,
    PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE ?? "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
}

/** The engine, or why it cannot run this program here (then the direct runner may). */
async function engineOrWhy(offlinePlugins: boolean): Promise<Engine | string> {
  let engine: Engine;
  try {
    engine = await findEngine(root, { build: true });
  } catch (e) {
    if (e instanceof EngineMissing) return e.message;
    throw e;
  }
  const missing = missingPlugins(engine, root, { ...process.env, ...engineEnv() });
  // A CLI of the user's own fetches plugins on first use; ours runs where github.com may not be reached.
  if (missing.length && (offlinePlugins || engine.source === "engine:build")) {
    return (
      `the Pulumi CLI (${engine.bin}) has no provider plugin ${missing.join(", ")} and cannot fetch one here; ` +
      `install them with \`pulumi plugin install resource NAME VERSION\` where github.com is reachable`
    );
  }
  return engine;
}

function printOutputs(outputs: OutputMap): void {
  const v = (k: string) => outputs[k]?.value as unknown;
  console.log(`verdict: ${String(v("verdict"))}  total: ${String(v("total"))} of ${String(v("target"))}`);
  if (v("diagnosis")) console.log(String(v("diagnosis")));
  if (v("reportDir")) console.log(`report: ${String(v("reportDir"))}`);
}

async function viaEngine(engine: Engine, action: "up" | "down", stackName: string): Promise<number> {
  const envVars = engineEnv();
  if (!process.env.PULUMI_BACKEND_URL) mkdirSync(`${root}/.pulumi-state`, { recursive: true });
  console.error(`c1m-lab: Pulumi ${engine.command.version?.toString() ?? ""} from ${engine.source} (${engine.bin})`);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir: root },
    { pulumiCommand: engine.command, envVars },
  );
  const onOutput = (s: string) => process.stdout.write(s);
  if (action === "up") {
    const result = await stack.up({ onOutput });
    printOutputs(result.outputs);
  } else {
    try {
      await stack.destroy({ onOutput });
    } catch (e) {
      // Seen at 1M: the first destroy stops ~20k-socket clients but loses a provider on the way
      // ("connection reset by peer"); the second finishes in seconds. Once more, then give up.
      console.error(`c1m-lab: destroy failed (${(e as Error).message.split("\n")[0]}); trying once more`);
      await stack.destroy({ onOutput });
    }
  }
  return 0;
}

function viaDirect(config: LabConfig, action: "up" | "down" | "test", stack: string): number {
  if (config.server.provider !== "netns") {
    throw new UsageError(`server.provider ${config.server.provider} needs the Pulumi engine; only netns stacks run without it`);
  }
  const plan = planCapacity(config, readHostFacts());
  const steps = labSteps(config, plan, stack, {
    root,
    node: process.execPath,
    stateDir: `/run/c1m-lab/${stack}`,
    reportsDir: `${root}/reports`,
  });
  if (action === "down") return labDown(steps).length ? 1 : 0;
  if (action === "up") labUp(steps);
  const r = spawnSync(process.execPath, [`${root}/dist/workload/verify.js`, ...steps.verifyArgs], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, C1M_PLAN: JSON.stringify(plan) },
  });
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
  // Validate before touching anything: the same errors `pulumi up` would give, sooner.
  const config = parseLabConfig(readStackConfig(root, stack));

  if (action === "test") {
    if (config.server.provider !== "netns") throw new UsageError("lab:test runs against the local (netns) lab");
    // Without its namespace the server's addresses are nobody's here: never poll them elsewhere.
    if (!existsSync(`/run/netns/${config.server.namespace}`)) {
      throw new UsageError(
        `the lab of stack ${stack} is not up (no namespace ${config.server.namespace}); run npm run lab:up -- --stack ${stack} first`,
      );
    }
    return viaDirect(config, "test", stack);
  }
  if (action !== "up" && action !== "down") {
    console.error(usage);
    return 2;
  }
  if (values.direct) return viaDirect(config, action, stack);
  const engine = await engineOrWhy(values.engine || process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION === "true");
  if (typeof engine !== "string") return viaEngine(engine, action, stack);
  if (values.engine) throw new UsageError(`--engine: ${engine}`);
  console.error(`c1m-lab: ${engine}.\nc1m-lab: running the same steps without the engine (infra/direct); --engine refuses this.`);
  return viaDirect(config, action, stack);
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(`c1m-lab: ${(e as Error).message}`);
    process.exitCode = 2;
  },
);
