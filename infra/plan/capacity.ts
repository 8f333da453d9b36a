// The capacity plan: the 4-tuple math that predicts how many connections the lab can hold and
// which limit binds. Pure (no Pulumi, no I/O) so the connection test can compare its
// measurement with the very same numbers, and `npm run plan` can print them.
import type { LabConfig } from "../config/schema.js";
import {
  DOCKER_DEFAULT_PORT_RANGE,
  MASQUERADE_POOL,
  type CapacityPlan,
  type ContainerPlan,
  type LimitName,
  type PathPlan,
} from "../../shared/plan.js";
import { addressOf, formatIpv4, ipv4ToInt, parseCidr } from "./net.js";

/** What the plan needs to know about the machines. */
export interface HostFacts {
  /** RLIMIT_NOFILE hard limit of processes started on the client host (server workers in netns too). */
  fdHardLimit: number;
  /** The Docker daemon's own nofile limit: container ulimits above it fail to start. null = unknown. */
  dockerNofile: number | null;
  /** RLIMIT_NOFILE the server workers get on a VM (the systemd unit's LimitNOFILE). */
  serverFdLimit?: number;
  nrOpen: number;
  fileMax: number;
  conntrackMax: number;
  conntrackBuckets: number;
  memAvailableBytes: number;
}

/** Facts measured on these machines, used when nothing better is known (tests, `npm run plan`). */
export const REFERENCE_FACTS: HostFacts = {
  fdHardLimit: 20_000,
  dockerNofile: 20_000,
  nrOpen: 1_048_576,
  fileMax: Number.MAX_SAFE_INTEGER,
  conntrackMax: 262_144,
  conntrackBuckets: 262_144,
  memAvailableBytes: 24 * 2 ** 30,
};

/** The article's machines: Ubuntu hosts whose Docker gives containers nofile 1,048,576. */
export const ARTICLE_FACTS: HostFacts = { ...REFERENCE_FACTS, fdHardLimit: 1_048_576, dockerNofile: 1_048_576 };

/** Sockets a process keeps for itself: stdio, listeners, IPC, metrics, logs. */
export const FD_RESERVE = 100;
/**
 * Above this fill the NAT's random port search misses the last free ports: measured, a pool of
 * 3,000 took 69 s for 2,999 connections and the last one timed out at 134 s; 90% fills at once.
 */
export const NAT_FILL_WARN = 0.9;
/** A VM's server unit gets this LimitNOFILE unless the plan needs more (then fs.nr_open is raised). */
export const VM_SERVER_FD_LIMIT = 1_048_576;
/** Measured per connection: kernel, both socket ends (10.2 KB) + conntrack (0.26 KB); tuned Node server and client; per Node process. */
export const MEMORY = { kernel: 10_460, server: 2_100, client: 2_700, process: 45 * 2 ** 20 } as const;

/** The plan as the connection test gets it: without the live readings, so it is the same on every `up`. */
export function stablePlan(plan: CapacityPlan): Omit<CapacityPlan, "liveWarnings"> {
  const { liveWarnings: _live, ...rest } = plan;
  void _live;
  return rest;
}

export class PlanError extends Error {
  override name = "PlanError";
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** Where the client host's source address comes from, per strategy. */
export function clientSources(config: LabConfig): string[] {
  const { sourceIps } = config.clients;
  if (sourceIps.strategy === "host-ips" || sourceIps.strategy === "both") return sourceIps.addresses.map(addressOf);
  if (sourceIps.strategy === "routed") return [];
  return [config.server.provider === "netns" ? addressOf(config.server.hostAddress) : "client-host"];
}

/** Spreads n over k slots as evenly as possible, earlier slots taking the remainder. */
export function spread(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

export function planCapacity(config: LabConfig, facts: HostFacts = REFERENCE_FACTS): CapacityPlan {
  const { clients, server, tuning } = config;
  const strategy = clients.sourceIps.strategy;
  const serverAddresses = server.addresses.map(addressOf);
  const port = server.port;
  const target = clients.containers * clients.connectionsPerContainer;
  const routed = strategy === "routed";
  const natPool = routed ? null : (clients.natPortRange ?? MASQUERADE_POOL);
  const containerPortRange = clients.localPortRange === "docker-default" ? DOCKER_DEFAULT_PORT_RANGE : clients.localPortRange;
  const sources = clientSources(config);
  const networks = Math.max(1, sources.length);

  // fds: a container cannot hold more than the daemon's nofile allows it.
  const containerNofile = Math.min(facts.fdHardLimit, facts.dockerNofile ?? facts.fdHardLimit);
  const perContainer = containerNofile - FD_RESERVE;
  if (clients.connectionsPerContainer > perContainer) {
    throw new PlanError(
      `clients.connectionsPerContainer ${fmt(clients.connectionsPerContainer)} is more than one container can hold: ` +
        `nofile ${fmt(containerNofile)} − ${FD_RESERVE} reserved = ${fmt(perContainer)}. ` +
        `Use clients.containers ≥ ${fmt(Math.ceil(target / perContainer))} with ≤ ${fmt(perContainer)} connections each.`,
    );
  }
  const serverFdLimit =
    server.provider === "netns" ? facts.fdHardLimit : Math.max(facts.serverFdLimit ?? VM_SERVER_FD_LIMIT, VM_SERVER_FD_LIMIT);
  const perWorker = serverFdLimit - FD_RESERVE;
  const workersFlat = Math.max(1, Math.ceil(target / perWorker));
  if (server.workers !== "auto" && server.workers < workersFlat) {
    throw new PlanError(
      `server.workers ${server.workers} cannot hold ${fmt(target)} connections: each worker holds at most ${fmt(perWorker)} ` +
        `(fd limit ${fmt(serverFdLimit)} − ${FD_RESERVE}); use server.workers ≥ ${workersFlat} or "auto".`,
    );
  }

  // Each container's connections, its targets and how they split over them.
  const containers: ContainerPlan[] = [];
  const load = new Map<string, number>(); // path key → load
  const pathKey = (source: string, dest: string) => `${source}→${dest}`;
  let portRangeLoss = 0;
  for (let i = 0; i < clients.containers; i++) {
    const targets = clients.assignment === "per-container" ? [serverAddresses[i % serverAddresses.length]!] : serverAddresses;
    const network = i % networks;
    const source = routed ? containerAddress(config, i) : sources[network]!;
    let expected = 0;
    for (const [t, share] of spread(clients.connectionsPerContainer, targets.length).entries()) {
      // The container's own sockets need distinct (its IP, its port) per destination.
      const capped = Math.min(share, containerPortRange.size);
      portRangeLoss += share - capped;
      expected += capped;
      const key = pathKey(source, targets[t]!);
      load.set(key, (load.get(key) ?? 0) + capped);
    }
    containers.push({
      index: i,
      connections: clients.connectionsPerContainer,
      targets: targets.map((a) => `${a}:${port}`),
      network,
      source,
      expected,
    });
  }

  // Workers sharing a listening socket are all woken for each connection (measured on loopback,
  // 19,000 accepts: 83 µs of server CPU per accept with 2 workers, 210 µs with 16, 400 µs with 51).
  // With "auto" and several workers, each server address gets its own group of workers (the
  // server's --listen-groups), enough to hold that address's share: the million stack's 54
  // addresses × 1 worker here, one woken per connection instead of 54.
  let listenGroups = 1;
  let serverWorkers = server.workers === "auto" ? workersFlat : server.workers;
  if (server.workers === "auto" && workersFlat > 1 && serverAddresses.length > 1) {
    const perAddress = new Map<string, number>(serverAddresses.map((a) => [a, 0]));
    for (const [key, pathLoad] of load) {
      const dest = key.split("→")[1]!;
      perAddress.set(dest, (perAddress.get(dest) ?? 0) + pathLoad);
    }
    // The server checks each group against an even share; the plan sizes for the busiest address.
    const busiest = Math.max(Math.ceil(target / serverAddresses.length), ...perAddress.values());
    listenGroups = serverAddresses.length;
    serverWorkers = listenGroups * Math.max(1, Math.ceil(busiest / perWorker));
  }
  const workersNeeded = server.workers === "auto" ? serverWorkers : workersFlat;

  const paths: PathPlan[] = [];
  for (const [key, pathLoad] of load) {
    const [source, dest] = key.split("→") as [string, string];
    const capacity = natPool ? natPool.size : containerPortRange.size;
    paths.push({
      source,
      server: dest,
      port,
      capacity,
      load: pathLoad,
      expected: Math.min(pathLoad, capacity),
      kind: natPool ? "nat" : "local",
    });
  }
  const natLoss = paths.reduce((sum, p) => sum + (p.load - p.expected), 0);
  const throughPaths = paths.reduce((sum, p) => sum + p.expected, 0);

  // conntrack tracks every forwarded connection on the client host.
  const conntrackEntries = roundUp(Math.ceil(target * 1.25) + 16_384, 1024);
  const override = tuning.sysctls["net.netfilter.nf_conntrack_max"];
  const conntrackLimit =
    override !== undefined
      ? Number(override)
      : tuning.raiseHostLimits
        ? Math.max(facts.conntrackMax, conntrackEntries)
        : facts.conntrackMax;
  const predicted = Math.min(throughPaths, conntrackLimit);
  const conntrackLoss = throughPaths - predicted;

  const losses: Partial<Record<LimitName, number>> = {};
  if (portRangeLoss > 0) losses["container-port-range"] = portRangeLoss;
  if (natLoss > 0) losses["nat-pool"] = natLoss;
  if (conntrackLoss > 0) losses.conntrack = conntrackLoss;
  const bindingLimit = (Object.entries(losses) as [LimitName, number][]).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "target";

  const capacityPerPath = natPool ? natPool.size : containerPortRange.size;
  const ceiling = Math.min(
    routed
      ? clients.containers * serverAddresses.length * Math.min(containerPortRange.size, perContainer)
      : networks * serverAddresses.length * capacityPerPath,
    conntrackLimit,
  );

  // What the target needs, keeping each NAT path at most 90% full.
  const usablePerPath = Math.floor(capacityPerPath * NAT_FILL_WARN);
  const needs = {
    serverIps: routed ? 1 : Math.ceil(target / (networks * usablePerPath)),
    clientIps: routed ? 0 : Math.ceil(target / (serverAddresses.length * usablePerPath)),
    clientContainers: Math.ceil(target / perContainer),
    serverWorkers: workersNeeded,
    conntrackEntries,
    conntrackBuckets: conntrackEntries,
    fileMax: roundUp(target * 2 + 65_536, 1024),
    nrOpen: serverFdLimit,
    serverFdLimit,
    containerNofile,
    memoryBytes:
      target * (MEMORY.kernel + MEMORY.server + MEMORY.client) + (serverWorkers + clients.containers + 1) * MEMORY.process,
  };

  const warnings: string[] = [];
  for (const p of paths) {
    const fill = p.load / p.capacity;
    if (p.kind === "nat" && fill > NAT_FILL_WARN && fill <= 1) {
      warnings.push(
        `${p.source} → ${p.server}:${p.port} fills ${Math.round(fill * 100)}% of the NAT pool (${fmt(p.load)} of ${fmt(p.capacity)}): ` +
          `the NAT's random port search finds the last free ports slowly and connects may time out; keep it ≤ 90% ` +
          `(add server addresses or client source IPs).`,
      );
    }
  }
  if (clients.localPortRange === "docker-default" && portRangeLoss > 0) {
    warnings.push(
      `clients.localPortRange is docker-default (${fmt(DOCKER_DEFAULT_PORT_RANGE.size)} ports per destination per container): ` +
        `${fmt(portRangeLoss)} connections cannot get a local port; set it to 1024-65535.`,
    );
  }
  if (!tuning.raiseHostLimits && facts.conntrackMax < conntrackEntries) {
    warnings.push(
      `nf_conntrack_max is ${fmt(facts.conntrackMax)} and tuning.raiseHostLimits is off: above that the NAT drops SYNs ("table full").`,
    );
  }
  const liveWarnings: string[] = [];
  if (needs.memoryBytes > facts.memAvailableBytes * 0.9) {
    liveWarnings.push(
      `the plan needs ≈ ${fmtBytes(needs.memoryBytes)} of memory and ${fmtBytes(facts.memAvailableBytes)} is available.`,
    );
  }
  if (config.test.expect === "plateau" && predicted >= target) {
    warnings.push(`test.expect is plateau, but the plan predicts all ${fmt(target)} connections succeed.`);
  }

  const plan: CapacityPlan = {
    strategy,
    target,
    predicted,
    ceiling,
    bindingLimit,
    losses,
    serverAddresses,
    serverPort: port,
    serverWorkers,
    serverListenGroups: listenGroups,
    perWorker,
    clientSources: routed ? containers.map((c) => c.source) : sources,
    natPool,
    containerPortRange,
    paths,
    containers,
    needs,
    warnings,
    liveWarnings,
    explanation: "",
  };
  plan.explanation = explainLimit(plan);

  if (predicted < target && config.test.expect !== "plateau") {
    throw new PlanError(
      `the target of ${fmt(target)} connections is above what this lab can hold: ${plan.explanation} ` +
        `Or set test.expect: plateau to demonstrate the wall.`,
    );
  }
  return plan;
}

/** One sentence naming the binding limit with its numbers, and the fix. */
export function explainLimit(plan: CapacityPlan): string {
  const { predicted, target } = plan;
  switch (plan.bindingLimit) {
    case "target":
      return `All ${fmt(target)} connections fit: the tightest path uses ${fmt(Math.max(0, ...plan.paths.map((p) => p.load)))} of ${fmt(plan.paths[0]?.capacity ?? 0)} source ports.`;
    case "nat-pool": {
      const full = plan.paths.filter((p) => p.load > p.capacity);
      const pool = plan.natPool!;
      return (
        `Predicted ${fmt(predicted)} of ${fmt(target)}: the NAT source-port pool ${pool.from}–${pool.to} (${fmt(pool.size)} ports) ` +
        `is exhausted on ${full.length} of ${plan.paths.length} (client IP, server IP, port) paths ` +
        `(${plan.clientSources.length} client IP × ${plan.serverAddresses.length} server IP:${plan.serverPort}); ` +
        `add server IPs (server.secondaryAddresses) or client source IPs (clients.sourceIps).`
      );
    }
    case "container-port-range":
      return (
        `Predicted ${fmt(predicted)} of ${fmt(target)}: each container has ${fmt(plan.containerPortRange.size)} local ports ` +
        `(${plan.containerPortRange.from}–${plan.containerPortRange.to}) per server IP:port; ` +
        `widen clients.localPortRange to 1024-65535 or spread over more server addresses.`
      );
    case "conntrack":
      return (
        `Predicted ${fmt(predicted)} of ${fmt(target)}: nf_conntrack_max caps the NAT host's tracked connections; ` +
        `raise net.netfilter.nf_conntrack_max above ${fmt(target)} (tuning).`
      );
    default:
      return `Predicted ${fmt(predicted)} of ${fmt(target)} (limit: ${plan.bindingLimit}).`;
  }
}

/** Under `routed`, container i's address on the (first) client network: .2 upward. */
function containerAddress(config: LabConfig, i: number): string {
  const { network } = parseCidr(config.clients.subnet);
  return formatIpv4(ipv4ToInt(network) + 2 + i);
}

function roundUp(n: number, step: number): number {
  return Math.ceil(n / step) * step;
}

export function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}
