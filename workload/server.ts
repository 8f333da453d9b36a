// Connection server entry point: `node dist/workload/server.js --help`.
import { UsageError } from "./cliArgs.js";
import { parseServerArgs, SERVER_USAGE } from "./server/config.js";
import { ServerPrimary } from "./server/primary.js";

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

void main();
