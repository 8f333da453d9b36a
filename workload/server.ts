// Connection server entry point: `node dist/workload/server.js --help`.
// One file, both roles: the primary forks this same file (cluster's default exec,
// process.argv[1]) and a forked copy runs the worker. That is what lets the VM run the server as
// one bundled file (infra/server/vm/bundle.ts). Each role imports its own code on demand, so a
// worker never loads the primary's HTTP and prom-client code, nor the primary the worker's.
import cluster from "node:cluster";
import { UsageError } from "./cliArgs.js";
import { parseServerArgs, SERVER_USAGE } from "./server/config.js";

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseServerArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`c1m-server: ${err.message}\n\n${SERVER_USAGE}\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(SERVER_USAGE + "\n");
    return;
  }
  const { ServerPrimary } = await import("./server/primary.js");
  const primary = new ServerPrimary(parsed.config);
  const problem = primary.problem();
  if (problem !== undefined) {
    process.stderr.write(`c1m-server: ${problem}\n`);
    process.exit(2);
  }
  try {
    await primary.start();
  } catch (err) {
    process.stderr.write(`c1m-server: ${(err as Error).message}\n`);
    primary.shutdown("start failed", 1);
  }
}

async function worker(): Promise<void> {
  const { runWorker } = await import("./server/worker.js");
  runWorker();
}

void (cluster.isPrimary ? main() : worker());
