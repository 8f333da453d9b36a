// Connection client entry point: `node dist/workload/client.js --help`. No npm dependencies:
// the container image ships only dist/workload/.
import { UsageError } from "./cliArgs.js";
import { ConnectionClient } from "./client/connectionClient.js";
import { CLIENT_USAGE, parseClientArgs, type ClientConfig } from "./client/config.js";
import { FD_RESERVE, processesNeeded, readOpenFilesLimit, usableSockets } from "./limits.js";
import { CLIENT_ENV, CLIENT_MAX_PROCESSES, CLIENT_RESET_MARK, type ClientStatus } from "../shared/protocol.js";
import { PART_ENV, runPart, runParts, type Controls } from "./client/parts.js";
import { STEP_SIGNAL } from "../shared/findLimit.js";

/** Env var that makes the client use a net.Socket per connection (the fallback path). */
const NET_SOCKETS_ENV = "C1M_CLIENT_NET_SOCKETS";

function usageExit(message: string): never {
  process.stderr.write(`c1m-client: ${message}\n`);
  process.exit(2);
}

/**
 * Each connection is one fd: more than this process can hold run as several processes (parts),
 * up to CLIENT_MAX_PROCESSES; beyond that, or with no fd to spare, the plan is refused with how to split it.
 */
function partsFor(config: ClientConfig): number {
  const limit = readOpenFilesLimit();
  const usable = usableSockets(limit, FD_RESERVE);
  const parts = processesNeeded(config.connections, usable);
  if (parts <= CLIENT_MAX_PROCESSES) return parts;
  usageExit(
    `${config.connections} connections need more than ${CLIENT_MAX_PROCESSES} processes here: open-file soft limit ` +
      `${limit.soft} minus ${FD_RESERVE} reserved = ${usable} sockets each. ` +
      `Run more client containers (${CLIENT_ENV.connections}=${Math.ceil(config.connections / Math.ceil(parts / CLIENT_MAX_PROCESSES))} each ` +
      `in ${Math.ceil(parts / CLIENT_MAX_PROCESSES)} or more), or raise the open-file limit.`,
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

function makeClient(config: ClientConfig, out: (s: ClientStatus) => void, done: (code: number) => void): ConnectionClient {
  const client = new ConnectionClient(config, out, done, compactSoon, { netSockets: process.env[NET_SOCKETS_ENV] === "1" });
  if (client.transportKind === "net") {
    process.stderr.write(`c1m-client: one net.Socket per connection (bare TCP handles unavailable, or ${NET_SOCKETS_ENV}=1)\n`);
  }
  return client;
}

/** One process holding all of the config's connections. */
function runAlone(config: ClientConfig, line: (s: ClientStatus) => void, resetLine: (n: number) => void): Controls {
  const client = makeClient(config, line, (code) => process.exit(code));
  client.start();
  return {
    reset: () => resetLine(client.quiesce()),
    step: () => client.nextStep(),
    // With --hold-seconds 0 a signal is the normal end: success if the target had been reached.
    stop: () => client.finish(client.succeeded() ? 0 : 1),
  };
}

function main(): void {
  const part = process.env[PART_ENV];
  if (part !== undefined) return runPart(JSON.parse(part) as ClientConfig, makeClient);
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
  const parts = partsFor(config);

  // stdout is a pipe or a file in the lab: writes are synchronous, so exit right after is safe.
  // A reader that went away (EPIPE) must not kill the connections: status lines are best effort.
  process.stdout.on("error", () => {});
  const line = (status: ClientStatus): void => void process.stdout.write(JSON.stringify(status) + "\n");
  // The lab's stop resets every connection first, while the NAT still maps them (drain.ts), then
  // stops the container; the line tells it this client is done.
  const resetLine = (reset: number): void =>
    void process.stdout.write(`${CLIENT_RESET_MARK},"client":${JSON.stringify(config.name)},"connections":${reset}}\n`);
  const controls =
    parts === 1 ? runAlone(config, line, resetLine) : runParts(config, parts, makeClient, { status: line, reset: resetLine });
  process.on("SIGTERM", controls.stop);
  process.on("SIGINT", controls.stop);
  process.on("SIGHUP", controls.reset);
  // find-limit's next step (the connection test signals every container; PID 1 gets it because it handles it).
  if (config.stepConnections > 0) process.on(STEP_SIGNAL, controls.step);
}

main();
