// npm run bench:breakdown -- [--stack million] [--direct] [--down] [--runs N]: `npm run lab:up`
// of a netns stack (through the engine, or --direct without it) while sampling once a second
// where the time goes (CPU by group, the server's listen drops, the clients' SYN retransmits,
// conntrack insert failures), then the containers' own view; prints the breakdown and writes it
// under reports/<stack>/breakdown-<time>/. --down tears the lab down after each run and times it.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync, createWriteStream } from "node:fs";
import { availableParallelism, homedir, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readStackConfig } from "../infra/config/stackFile.js";
import { parseLabConfig } from "../infra/config/schema.js";
import { readHostFacts } from "../infra/plan/readFacts.js";
import { planCapacity } from "../infra/plan/capacity.js";
import { labSteps } from "../infra/server/netns/steps.js";
import { localLabPaths } from "../infra/install/stage.js";
import { STACK_LABEL } from "../infra/clients/steps.js";
import { statsUrl } from "../workload/verify/observe.js";
import { timestampDirName } from "../workload/verify/run.js";
import { UsageError, parseFlags, parseIntOption } from "../workload/cliArgs.js";
import { startSampler } from "./breakdown/sampler.js";
import { readContainers } from "./breakdown/containers.js";
import { breakdownOf } from "./breakdown/analyze.js";
import { renderBreakdown } from "./breakdown/render.js";

const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const usage = "usage: npm run bench:breakdown -- [--stack million] [--direct] [--down] [--runs N] [--timeout-minutes 25]";

/** Runs `lab.js <verb>`, its output to our stderr and the log; resolves with its exit code. */
function lab(verb: string, args: string[], log: NodeJS.WritableStream, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, "dist/infra/cli/lab.js"), verb, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const t0 = Date.now();
    const stamp = (chunk: Buffer) => {
      for (const line of chunk
        .toString("utf8")
        .split("\n")
        .filter((l) => l !== "")) {
        log.write(`${((Date.now() - t0) / 1000).toFixed(1)} ${line}\n`);
      }
      process.stderr.write(chunk);
    };
    child.stdout.on("data", stamp);
    child.stderr.on("data", stamp);
    const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

async function oneRun(stack: string, flags: { direct: boolean; down: boolean; timeoutMs: number }): Promise<void> {
  const config = parseLabConfig(readStackConfig(root, stack));
  if (config.server.provider !== "netns")
    throw new UsageError(`--stack ${stack}: bench:breakdown samples a netns server (server.provider netns)`);
  const plan = planCapacity(config, readHostFacts());
  const steps = labSteps(config, plan, stack, {
    ...localLabPaths(root, stack, { node: process.execPath, home: homedir() }),
    reportsDir: `${root}/reports`,
  });
  const dir = join(root, "reports", stack, `breakdown-${timestampDirName(new Date())}`);
  mkdirSync(dir, { recursive: true });
  const log = createWriteStream(join(dir, "lab.log"));
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  const t0 = Date.now();
  const sampler = startSampler({ serverNamespace: config.server.namespace, metricsUrl: statsUrl(steps.metricsUrl) });
  const args = ["--stack", stack, flags.direct ? "--direct" : "--engine"];
  const upCode = await lab("up", args, log, flags.timeoutMs);
  const upDone = (Date.now() - t0) / 1000;
  const containers = await readContainers(`${STACK_LABEL}=${stack}`);
  await sampler.stop();
  const b = breakdownOf(sampler.ticks, containers, plan.target, t0, Math.round(upDone * 10) / 10, availableParallelism());
  let downSeconds: number | null = null;
  if (flags.down) {
    const d0 = Date.now();
    const code = await lab("down", args, log, flags.timeoutMs);
    downSeconds = code === 0 ? Math.round((Date.now() - d0) / 100) / 10 : null;
  }
  log.end();
  const md = [
    `## ${stack}, ${flags.direct ? "without the engine" : "through the engine"}, ${new Date(t0).toISOString()} (load average ${load} at the start)`,
    "",
    `\`lab:up\` exit ${upCode} in ${upDone.toFixed(1)} s${flags.down ? `; \`lab:down\` ${downSeconds === null ? "failed" : `${downSeconds} s`}` : ""}.`,
    "",
    renderBreakdown(b),
    "",
  ].join("\n");
  writeFileSync(
    join(dir, "breakdown.json"),
    `${JSON.stringify({ stack, direct: flags.direct, load, upCode, downSeconds, breakdown: b, ticks: sampler.ticks }, null, 1)}\n`,
  );
  writeFileSync(join(dir, "breakdown.md"), md);
  process.stdout.write(`${md}\n(written to ${dir})\n`);
}

async function main(): Promise<void> {
  const v = parseFlags(process.argv.slice(2), {
    stack: { type: "string" },
    direct: { type: "boolean" },
    down: { type: "boolean" },
    runs: { type: "string" },
    "timeout-minutes": { type: "string" },
    help: { type: "boolean" },
  });
  if (v.help) return void process.stdout.write(`${usage}\n`);
  const runs = v.runs === undefined ? 1 : parseIntOption("runs", v.runs, { min: 1, max: 5 });
  const minutes =
    v["timeout-minutes"] === undefined ? 25 : parseIntOption("timeout-minutes", v["timeout-minutes"], { min: 1, max: 60 });
  for (let i = 0; i < runs; i++) {
    await oneRun(v.stack ?? "million", {
      direct: v.direct ?? false,
      down: (v.down ?? false) || i < runs - 1,
      timeoutMs: minutes * 60_000,
    });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:breakdown: ${err instanceof UsageError ? `${err.message}\n${usage}` : (err as Error).stack}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
