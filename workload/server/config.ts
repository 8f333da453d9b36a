// The server's command line → a validated config (pure, unit-tested).
import { UsageError, parseFlags, parseIntOption, parseIpList } from "../cliArgs.js";

export const MIN_BACKLOG = 4096;

export interface ServerConfig {
  port: number;
  /** IPs to listen on; ["0.0.0.0"] means all IPv4 addresses. */
  addresses: string[];
  workers: number;
  /**
   * Listener groups: address i is listened on by the workers w with w % groups === i % groups.
   * 1 = every worker listens on every address. More groups, fewer workers woken per connection.
   */
  listenGroups: number;
  metricsPort: number;
  metricsAddress: string;
  backlog: number;
  /** The plan's total connection count, checked against per-worker capacity at start. */
  expectConnections?: number;
}

export const SERVER_USAGE = `Usage: node server.js [options]

Holds idle TCP connections, writes back what they send (the clients' pings: round trips), and
reports them on a separate metrics port.

  --port N                  TCP port to listen on (default 9000; 0 = any free port)
  --addresses IP,IP         addresses to listen on (default 0.0.0.0 = all)
  --workers N               worker processes sharing the listeners (default 1)
  --listen-groups N         split addresses and workers into N groups: address i is served only by
                            workers w with w % N = i % N (default 1 = all by all). Workers sharing a
                            listener are all woken per connection; groups keep that herd small
  --metrics-port N          HTTP port for /stats, /metrics, /healthz (default 9100)
  --metrics-address IP      metrics listen address (default: first of --addresses, else 0.0.0.0)
  --backlog N               listen backlog (default and minimum 4096; the kernel caps it at somaxconn)
  --expect-connections N    refuse to start if N / workers exceeds one worker's open-file capacity
  --help                    this text

Prints one JSON line {"type":"listening",...} on stdout once every listener is up.
SIGTERM/SIGINT: close listeners and connections, exit 0.
Workers hold connections as bare TCP handles (no net.Socket each); C1M_SERVER_NET_SOCKETS=1
selects net.Socket, which is also the fallback where Node lacks them. Test hook:
C1M_SERVER_TEST_MUTE_FILE=PATH stops the echo once PATH exists (a server that stopped answering);
C1M_SERVER_TEST_WORKER_CAPACITY=N makes a worker stop accepting at N connections (a limit to find).`;

export type ParsedServerArgs = { help: true } | { help: false; config: ServerConfig };

export function parseServerArgs(argv: string[]): ParsedServerArgs {
  const values = parseFlags(argv, {
    port: { type: "string", default: "9000" },
    addresses: { type: "string" },
    workers: { type: "string", default: "1" },
    "listen-groups": { type: "string", default: "1" },
    "metrics-port": { type: "string", default: "9100" },
    "metrics-address": { type: "string" },
    backlog: { type: "string", default: String(MIN_BACKLOG) },
    "expect-connections": { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) return { help: true };

  const addresses = values.addresses === undefined ? [] : parseIpList("--addresses", values.addresses);
  if (addresses.length === 0) addresses.push("0.0.0.0");
  if (new Set(addresses).size !== addresses.length) throw new UsageError("--addresses: duplicate address");
  let metricsAddress = addresses[0]!;
  if (values["metrics-address"] !== undefined) {
    const list = parseIpList("--metrics-address", values["metrics-address"]);
    if (list.length !== 1) throw new UsageError("--metrics-address: expected exactly one IP");
    metricsAddress = list[0]!;
  }

  const config: ServerConfig = {
    port: parseIntOption("--port", values.port, { max: 65535 }),
    addresses,
    workers: parseIntOption("--workers", values.workers, { min: 1, max: 256 }),
    listenGroups: parseIntOption("--listen-groups", values["listen-groups"], { min: 1, max: 256 }),
    metricsPort: parseIntOption("--metrics-port", values["metrics-port"], { max: 65535 }),
    metricsAddress,
    backlog: parseIntOption("--backlog", values.backlog, { min: MIN_BACKLOG }),
  };
  if (config.listenGroups > 1) {
    if (config.listenGroups > config.addresses.length || config.listenGroups > config.workers) {
      throw new UsageError(
        `--listen-groups ${config.listenGroups}: at most the number of addresses (${config.addresses.length}) and of workers (${config.workers})`,
      );
    }
    if (config.addresses.some((a) => a === "0.0.0.0" || a === "::")) {
      throw new UsageError("--listen-groups needs specific --addresses, not a wildcard");
    }
  }
  if (values["expect-connections"] !== undefined) {
    config.expectConnections = parseIntOption("--expect-connections", values["expect-connections"], { min: 1 });
  }
  return { help: false, config };
}

/**
 * Why the plan does not fit (or undefined if it does): every worker holds about
 * expect / workers connections, each one a file descriptor.
 */
export function capacityProblem(config: ServerConfig, perWorkerCapacity: number, fdSoftLimit: number): string | undefined {
  if (config.expectConnections === undefined) return undefined;
  if (config.listenGroups > 1) {
    // Clients spread evenly over the addresses: each group holds its addresses' share.
    const perAddress = config.expectConnections / config.addresses.length;
    for (let g = 0; g < config.listenGroups; g++) {
      const addresses = groupAddresses(config, g).length;
      const workers = groupWorkers(config, g);
      const load = Math.ceil(perAddress * addresses);
      if (load > workers * perWorkerCapacity) {
        return (
          `--listen-groups ${config.listenGroups}: group ${g} (${addresses} address(es), ${workers} worker(s)) would hold ` +
          `${load} connections, but one worker can hold ${perWorkerCapacity} (open-file soft limit ${fdSoftLimit} minus a reserve). ` +
          `Use more --workers or fewer groups.`
        );
      }
    }
    return undefined;
  }
  const perWorker = Math.ceil(config.expectConnections / config.workers);
  if (perWorker <= perWorkerCapacity) return undefined;
  const workersNeeded = Math.ceil(config.expectConnections / perWorkerCapacity);
  return (
    `--expect-connections ${config.expectConnections} with ${config.workers} worker(s) is ${perWorker} per worker, ` +
    `but one worker can hold ${perWorkerCapacity} (open-file soft limit ${fdSoftLimit} minus a reserve). ` +
    `Use --workers ${workersNeeded} or more, or raise the open-file limit.`
  );
}

/** The addresses listener group g serves. */
export function groupAddresses(config: Pick<ServerConfig, "addresses" | "listenGroups">, g: number): string[] {
  return config.addresses.filter((_, i) => i % config.listenGroups === g);
}

/** How many of the workers belong to listener group g (worker w is in group w % groups). */
export function groupWorkers(config: Pick<ServerConfig, "workers" | "listenGroups">, g: number): number {
  return Math.floor(config.workers / config.listenGroups) + (g < config.workers % config.listenGroups ? 1 : 0);
}
