// npm run lab:up | lab:down | lab:test [-- --stack NAME]: the README's first command.
// up/down drive the Pulumi CLI with a local file:// state backend inside the project and an
// empty passphrase unless one is set; test re-runs the connection test against the running lab.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { planCapacity } from "../capacity.js";
import { parseLabConfig } from "../config.js";
import { labSteps } from "../steps.js";
import { readHostFacts, readStackConfig, stackNames } from "./stackFile.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const usage = `usage: npm run lab:up|lab:down|lab:test [-- --stack NAME]
  lab:up    build, then pulumi up --yes on the stack (created if needed; state in .pulumi-state/)
  lab:down  pulumi destroy --yes: removes every trace of the lab
  lab:test  re-run the connection test against the running lab, without redeploying
  --stack   one of: ${stackNames(root).join(", ")} (default local)`;

function pulumi(args: string[], env: NodeJS.ProcessEnv): number {
  const r = spawnSync(`${root}/node_modules/.bin/pulumi`, args, { stdio: "inherit", env, cwd: root });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function main(): number {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { stack: { type: "string", default: "local" }, help: { type: "boolean", default: false } },
  });
  const action = positionals[0];
  if (values.help || !action) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const stack = values.stack;
  if (!stackNames(root).includes(stack)) throw new Error(`--stack must be one of ${stackNames(root).join(", ")}, got ${stack}`);
  // Validate before touching anything: the same errors `pulumi up` would give, sooner.
  const config = parseLabConfig(readStackConfig(root, stack));

  const env = {
    ...process.env,
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${root}/.pulumi-state`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  if (!process.env.PULUMI_BACKEND_URL) mkdirSync(`${root}/.pulumi-state`, { recursive: true });

  switch (action) {
    case "up": {
      const selected = pulumi(["stack", "select", "--create", stack], env);
      if (selected !== 0) {
        console.error("c1m-lab: could not run the Pulumi CLI (npx pulumi downloads it on first use and needs the internet).");
        return selected;
      }
      return pulumi(["up", "--yes", "--skip-preview", "--stack", stack], env);
    }
    case "down":
      return pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack], env);
    case "test": {
      if (config.server.provider !== "netns") throw new Error("lab:test runs against the local (netns) lab");
      // Without its namespace the server's addresses are nobody's here: never poll them elsewhere.
      if (!existsSync(`/run/netns/${config.server.namespace}`)) {
        throw new Error(
          `the lab of stack ${stack} is not up (no namespace ${config.server.namespace}); run npm run lab:up -- --stack ${stack} first`,
        );
      }
      const plan = planCapacity(config, readHostFacts());
      const steps = labSteps(config, plan, stack, {
        root,
        node: process.execPath,
        stateDir: `/run/c1m-lab/${stack}`,
        reportsDir: `${root}/reports`,
      });
      const r = spawnSync(process.execPath, [`${root}/dist/workload/verify.js`, ...steps.verifyArgs], {
        stdio: "inherit",
        env: { ...process.env, C1M_PLAN: JSON.stringify(plan) },
      });
      return r.status ?? 1;
    }
    default:
      console.error(usage);
      return 2;
  }
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(`c1m-lab: ${(e as Error).message}`);
  process.exitCode = 2;
}
