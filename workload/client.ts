// Connection client entry point: `node dist/workload/client.js --help`. No npm dependencies:
// the container image ships only dist/workload/.
import { UsageError } from "./cliArgs.js";
import { ConnectionClient } from "./client/connectionClient.js";
import { CLIENT_USAGE, parseClientArgs, type ClientConfig } from "./client/config.js";
import { FD_RESERVE, processesNeeded, readOpenFilesLimit, usableSockets } from "./limits.js";
import { CLIENT_ENV, CLIENT_RESET_MARK } from "../shared/protocol.js";
import { STEP_SIGNAL } from "../shared/findLimit.js";

/** Env var that makes the client use a net.Socket per connection (the fallback path). */
const NET_SOCKETS_ENV = "C1M_CLIENT_NET_SOCKETS";

function usageExit(message: string): never {
  process.stderr.write(`c1m-client: ${message}\n`);
  process.exit(2);
}

/** Each connection is one fd: refuse plans this process cannot hold, and say how to split them. */
function checkFdLimit(config: ClientConfig): void {
  const limit = readOpenFilesLimit();
  const usable = usableSockets(limit, FD_RESERVE);
  if (config.connections <= usable) return;
  const n = processesNeeded(config.connections, usable);
  usageExit(
    `${config.connections} connections exceed what one process can hold here: open-file soft limit ` +
      `${limit.soft} minus ${FD_RESERVE} reserved = ${usable} sockets. ` +
      `Run ${n} client processes/containers (ceil(${config.connections} / ${usable})), ` +
      `e.g. ${CLIENT_ENV.connections}=${Math.ceil(config.connections / n)} each, or raise the open-file limit.`,
  );
}

/**
 * After the ramp the heap is full of dead connect-time objects between the live sockets. With
 * --expose-gc (the image's entrypoint passes it, with --compact-on-every-full-gc) one full GC a
 * little later returns that memory now instead of whenever V8's memory reducer gets to it.
 */
function compactSoon(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) setTimeout(gc, 2000).unref();
}

function main(): void {
  let parsed;
  try {
    parsed = parseClientArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) usageExit(`${err.message}\n\n${CLIENT_USAGE}`);
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(CLIENT_USAGE + "\n");
    return;
  }
  const config = parsed.config;
  checkFdLimit(config);

  // stdout is a pipe or a file in the lab: writes are synchronous, so exit right after is safe.
  // A reader that went away (EPIPE) must not kill the connections: status lines are best effort.
  process.stdout.on("error", () => {});
  const client = new ConnectionClient(
    config,
    (status) => process.stdout.write(JSON.stringify(status) + "\n"),
    (code) => process.exit(code),
    compactSoon,
    { netSockets: process.env[NET_SOCKETS_ENV] === "1" },
  );
  if (client.transportKind === "net") {
    process.stderr.write(`c1m-client: one net.Socket per connection (bare TCP handles unavailable, or ${NET_SOCKETS_ENV}=1)\n`);
  }
  // With --hold-seconds 0 a signal is the normal end: success if the target had been reached.
  const stop = (): void => client.finish(client.succeeded() ? 0 : 1);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The lab's stop resets every connection first, while the NAT still maps them (drain.ts), then
  // stops the container; the line tells it this client is done.
  process.on("SIGHUP", () => {
    const reset = client.quiesce();
    process.stdout.write(`${CLIENT_RESET_MARK},"client":${JSON.stringify(config.name)},"connections":${reset}}\n`);
  });
  // find-limit's next step (the connection test signals every container; PID 1 gets it because it handles it).
  if (config.stepConnections > 0) process.on(STEP_SIGNAL, () => client.nextStep());
  client.start();
}

main();
