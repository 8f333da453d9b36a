// The capacity plan: the 4-tuple math that predicts how many connections the lab can hold and
// which limit binds. Pure (no Pulumi, no I/O) so the connection test can compare its
// measurement with the very same numbers, and `npm run plan` can print them.
import { labClientHosts, type ClientHostConfig, type LabConfig } from "../config/schema.js";
import { hostSource } from "../config/clientHosts.js";
import {
  DOCKER_DEFAULT_PORT_RANGE,
  MASQUERADE_POOL,
  type CapacityPlan,
  type ContainerPlan,
  type HostPlan,
  type LimitName,
  type PathPlan,
} from "../../shared/plan.js";
import { addressOf, formatIpv4, ipv4ToInt, parseCidr } from "./net.js";
import { CLIENT_MAX_PROCESSES } from "../../shared/protocol.js";
import { spread } from "../../shared/spread.js";

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
const plural = (n: number, what: string) => `${fmt(n)} ${what}${n === 1 ? "" : "s"}`;

/** One client host's share of the plan's inputs. */
interface HostInputs {
  host: ClientHostConfig;
  /** Its source IPs after NAT (none under routed). */
  sources: string[];
  target: number;
}

export function planCapacity(config: LabConfig, facts: HostFacts = REFERENCE_FACTS): CapacityPlan {
  const { clients, server, tuning } = config;
  const strategy = clients.sourceIps.strategy;
  const serverAddresses = server.addresses.map(addressOf);
  const port = server.port;
  const explicit = clients.hosts !== undefined;
  const hosts: HostInputs[] = labClientHosts(config).map((host) => ({
    host,
    sources: hostSources(config, host),
    target: host.containers * host.connectionsPerContainer,
  }));
  const target = hosts.reduce((sum, h) => sum + h.target, 0);
  const containerPortRange = clients.localPortRange === "docker-default" ? DOCKER_DEFAULT_PORT_RANGE : clients.localPortRange;
  const natPoolOf = (h: ClientHostConfig) => (h.sourceIps.strategy === "routed" ? null : (h.natPortRange ?? MASQUERADE_POOL));
  const named = (h: ClientHostConfig, key: string) => (explicit ? `clients.hosts[${h.name}].${key}` : `clients.${key}`);

  // fds: a client process holds what the daemon's nofile allows it; a container's client runs as
  // many processes as its connections need (workload/client/parts.ts), up to CLIENT_MAX_PROCESSES.
  const containerNofile = Math.min(facts.fdHardLimit, facts.dockerNofile ?? facts.fdHardLimit);
  const perProcess = containerNofile - FD_RESERVE;
  const perContainer = perProcess * CLIENT_MAX_PROCESSES;
  const processesOf = (connections: number) => Math.ceil(connections / perProcess);
  for (const { host, target: hostTarget } of hosts) {
    if (host.connectionsPerContainer > perContainer) {
      throw new PlanError(
        `${named(host, "connectionsPerContainer")} ${fmt(host.connectionsPerContainer)} is more than one container can hold: ` +
          `${CLIENT_MAX_PROCESSES} client processes × (nofile ${fmt(containerNofile)} − ${FD_RESERVE} reserved) = ${fmt(perContainer)}. ` +
          `Use ${named(host, "containers")} ≥ ${fmt(Math.ceil(hostTarget / perContainer))} with ≤ ${fmt(perContainer)} connections each.`,
      );
    }
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

  // Each container's connections, its targets and how they split over them; paths per host (each
  // host NATs its own traffic, so two hosts never share a path even with the same source label).
  const containers: ContainerPlan[] = [];
  const load = new Map<string, { host: HostInputs; source: string; dest: string; load: number }>();
  const pathKey = (host: string, source: string, dest: string) => `${host}\u0000${source}→${dest}`;
  const portRangeLoss = new Map<HostInputs, number>();
  for (const h of hosts) {
    const routed = h.host.sourceIps.strategy === "routed";
    const networks = Math.max(1, h.sources.length);
    for (let i = 0; i < h.host.containers; i++) {
      const index = containers.length;
      const targets =
        clients.assignment === "per-container" ? [serverAddresses[index % serverAddresses.length]!] : serverAddresses;
      const network = i % networks;
      const source = routed ? containerAddress(h.host.subnet, i) : h.sources[network]!;
      let expected = 0;
      for (const [t, share] of spread(h.host.connectionsPerContainer, targets.length).entries()) {
        // The container's own sockets need distinct (its IP, its port) per destination.
        const capped = Math.min(share, containerPortRange.size);
        portRangeLoss.set(h, (portRangeLoss.get(h) ?? 0) + share - capped);
        expected += capped;
        const key = pathKey(h.host.name, source, targets[t]!);
        const path = load.get(key) ?? { host: h, source, dest: targets[t]!, load: 0 };
        path.load += capped;
        load.set(key, path);
      }
      containers.push({
        index,
        connections: h.host.connectionsPerContainer,
        processes: processesOf(h.host.connectionsPerContainer),
        targets: targets.map((a) => `${a}:${port}`),
        network,
        source,
        expected,
        ...(explicit ? { host: h.host.name } : {}),
      });
    }
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
    for (const path of load.values()) perAddress.set(path.dest, (perAddress.get(path.dest) ?? 0) + path.load);
    // The server checks each group against an even share; the plan sizes for the busiest address.
    const busiest = Math.max(Math.ceil(target / serverAddresses.length), ...perAddress.values());
    listenGroups = serverAddresses.length;
    serverWorkers = listenGroups * Math.max(1, Math.ceil(busiest / perWorker));
  }
  const workersNeeded = server.workers === "auto" ? serverWorkers : workersFlat;

  const paths: PathPlan[] = [];
  const pathHosts: HostInputs[] = [];
  for (const path of load.values()) {
    pathHosts.push(path.host);
    const natPool = natPoolOf(path.host.host);
    const capacity = natPool ? natPool.size : containerPortRange.size;
    paths.push({
      source: path.source,
      server: path.dest,
      port,
      capacity,
      load: path.load,
      expected: Math.min(path.load, capacity),
      kind: natPool ? "nat" : "local",
      ...(explicit ? { host: path.host.host.name } : {}),
    });
  }

  // conntrack tracks every forwarded connection on each client host (its own table).
  const override = tuning.sysctls["net.netfilter.nf_conntrack_max"];
  const conntrackFor = (hostTarget: number) => {
    const entries = roundUp(Math.ceil(hostTarget * 1.25) + 16_384, 1024);
    const limit =
      override !== undefined
        ? Number(override)
        : tuning.raiseHostLimits
          ? Math.max(facts.conntrackMax, entries)
          : facts.conntrackMax;
    return { entries, limit };
  };
  const conntrackEntries = conntrackFor(target).entries;
  const hostPlans: HostPlan[] = [];
  const losses: Partial<Record<LimitName, number>> = {};
  const lossByHost = new Map<LimitName, Map<string, number>>();
  const addLoss = (limit: LimitName, host: string, n: number) => {
    if (n <= 0) return;
    losses[limit] = (losses[limit] ?? 0) + n;
    const per = lossByHost.get(limit) ?? new Map<string, number>();
    per.set(host, (per.get(host) ?? 0) + n);
    lossByHost.set(limit, per);
  };
  let predicted = 0;
  let ceiling = 0;
  for (const h of hosts) {
    const mine = paths.filter((_, i) => pathHosts[i] === h);
    const through = mine.reduce((sum, p) => sum + p.expected, 0);
    const { limit: conntrackLimit } = conntrackFor(explicit ? h.target : target);
    const hostPredicted = Math.min(through, conntrackLimit);
    const natPool = natPoolOf(h.host);
    const capacityPerPath = natPool ? natPool.size : containerPortRange.size;
    const hostCeiling = Math.min(
      h.host.sourceIps.strategy === "routed"
        ? h.host.containers * serverAddresses.length * Math.min(containerPortRange.size, perContainer)
        : Math.max(1, h.sources.length) * serverAddresses.length * capacityPerPath,
      conntrackLimit,
    );
    predicted += hostPredicted;
    ceiling += hostCeiling;
    const hostLosses: Partial<Record<LimitName, number>> = {};
    const portLoss = portRangeLoss.get(h) ?? 0;
    const natLoss = mine.reduce((sum, p) => sum + (p.load - p.expected), 0);
    if (portLoss > 0) hostLosses["container-port-range"] = portLoss;
    if (natLoss > 0) hostLosses["nat-pool"] = natLoss;
    if (through - hostPredicted > 0) hostLosses.conntrack = through - hostPredicted;
    for (const [limit, n] of Object.entries(hostLosses) as [LimitName, number][]) addLoss(limit, h.host.name, n);
    if (explicit) {
      hostPlans.push({
        name: h.host.name,
        docker:
          h.host.docker.kind === "local" ? "local" : `ssh://${h.host.docker.user}@${h.host.docker.host}:${h.host.docker.port}`,
        sources: h.sources,
        containers: h.host.containers,
        target: h.target,
        predicted: hostPredicted,
        ceiling: hostCeiling,
        bindingLimit: bindingOf(hostLosses),
        natPool,
        capacity: `${plural(Math.max(1, h.sources.length), "source IP")} × ${plural(serverAddresses.length, "server IP")} × ${fmt(capacityPerPath)} ports`,
      });
    }
  }
  const bindingLimit = bindingOf(losses);
  const perHost = lossByHost.get(bindingLimit);
  const bindingHost = explicit && perHost ? [...perHost.entries()].sort((a, b) => b[1] - a[1])[0]![0] : undefined;

  // What the target needs, keeping each NAT path at most 90% full.
  const routedAll = hosts.every((h) => h.host.sourceIps.strategy === "routed");
  const usable = (h: HostInputs) => Math.floor((natPoolOf(h.host)?.size ?? containerPortRange.size) * NAT_FILL_WARN);
  const networksOf = (h: HostInputs) => Math.max(1, h.sources.length);
  const needs = {
    serverIps: routedAll ? 1 : Math.max(...hosts.map((h) => Math.ceil(h.target / (networksOf(h) * usable(h))))),
    clientIps: routedAll ? 0 : Math.ceil(target / (serverAddresses.length * usable(hosts[0]!))),
    clientProcesses: Math.ceil(target / perProcess),
    serverWorkers: workersNeeded,
    conntrackEntries,
    conntrackBuckets: conntrackEntries,
    fileMax: roundUp(target * 2 + 65_536, 1024),
    nrOpen: serverFdLimit,
    serverFdLimit,
    containerNofile,
    memoryBytes:
      target * (MEMORY.kernel + MEMORY.server + MEMORY.client) +
      (serverWorkers + containers.reduce((n, c) => n + c.processes, 0) + 1) * MEMORY.process,
  };

  const warnings: string[] = [];
  for (const p of paths) {
    const fill = p.load / p.capacity;
    if (p.kind === "nat" && fill > NAT_FILL_WARN && fill <= 1) {
      warnings.push(
        `${p.host ? `host ${p.host}: ` : ""}${p.source} → ${p.server}:${p.port} fills ${Math.round(fill * 100)}% of the NAT pool (${fmt(p.load)} of ${fmt(p.capacity)}): ` +
          `the NAT's random port search finds the last free ports slowly and connects may time out; keep it ≤ 90% ` +
          `(add server addresses or client source IPs).`,
      );
    }
  }
  const portRangeLossTotal = [...portRangeLoss.values()].reduce((a, b) => a + b, 0);
  if (clients.localPortRange === "docker-default" && portRangeLossTotal > 0) {
    warnings.push(
      `clients.localPortRange is docker-default (${fmt(DOCKER_DEFAULT_PORT_RANGE.size)} ports per destination per container): ` +
        `${fmt(portRangeLossTotal)} connections cannot get a local port; set it to 1024-65535.`,
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
    clientSources: routedAll ? containers.map((c) => c.source) : [...new Set(hosts.flatMap((h) => h.sources))],
    natPool: natPoolOf(hosts[0]!.host),
    containerPortRange,
    paths,
    containers,
    needs,
    warnings,
    liveWarnings,
    explanation: "",
    ...(explicit ? { hosts: hostPlans, ...(bindingHost ? { bindingHost } : {}) } : {}),
  };
  plan.explanation = explainLimit(plan);

  // find-limit measures where the lab stops: a target above the prediction is its ceiling.
  if (predicted < target && config.test.expect !== "plateau" && config.test.mode !== "find-limit") {
    throw new PlanError(
      `the target of ${fmt(target)} connections is above what this lab can hold: ${plan.explanation} ` +
        `Or set test.expect: plateau to demonstrate the wall, or test.mode: find-limit to measure it.`,
    );
  }
  return plan;
}

/** The limit that cut the most connections ("target" when none cut). */
function bindingOf(losses: Partial<Record<LimitName, number>>): LimitName {
  return (Object.entries(losses) as [LimitName, number][]).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "target";
}

/** A host's source IPs after NAT: its source-IP strategy's addresses, its own address on a host reached over ssh. */
export function hostSources(config: LabConfig, host: ClientHostConfig): string[] {
  if (host.docker.kind !== "local") return [hostSource(host, "")];
  const { sourceIps } = host;
  if (sourceIps.strategy === "host-ips" || sourceIps.strategy === "both") return sourceIps.addresses.map(addressOf);
  if (sourceIps.strategy === "routed") return [];
  return [config.server.provider === "netns" ? addressOf(config.server.hostAddress) : "client-host"];
}

/** One sentence naming the binding limit with its numbers, and the fix. */
export function explainLimit(plan: CapacityPlan): string {
  return plan.hosts ? explainHosts(plan, plan.hosts) : explainOneHost(plan);
}

/**
 * With clients.hosts: the total, then each host that limits with its numbers ("host b: 1 source
 * IP × 1 server IP × 1,000 ports = 1,000 of 1,500 (nat-pool)"), the binding host first.
 */
function explainHosts(plan: CapacityPlan, hosts: HostPlan[]): string {
  const { predicted, target } = plan;
  if (plan.bindingLimit === "target") {
    return `All ${fmt(target)} connections fit on ${hosts.length} client hosts (${hosts.map((h) => `host ${h.name}: ${fmt(h.target)} of ${h.capacity}`).join("; ")}).`;
  }
  const limited = hosts
    .filter((h) => h.predicted < h.target)
    .sort((a, b) => (a.name === plan.bindingHost ? -1 : b.name === plan.bindingHost ? 1 : 0));
  const fix =
    plan.bindingLimit === "nat-pool"
      ? "add server IPs (server.secondaryAddresses) or client source IPs, or widen that host's natPortRange"
      : plan.bindingLimit === "conntrack"
        ? "raise net.netfilter.nf_conntrack_max on that host (tuning)"
        : "widen clients.localPortRange to 1024-65535 or spread over more server addresses";
  return (
    `Predicted ${fmt(predicted)} of ${fmt(target)} over ${hosts.length} client hosts, limited by ${plan.bindingLimit} on host ${plan.bindingHost}: ` +
    `${limited.map((h) => `host ${h.name}: ${h.capacity} = ${fmt(h.predicted)} of ${fmt(h.target)} (${h.bindingLimit})`).join("; ")}; ${fix}.`
  );
}

function explainOneHost(plan: CapacityPlan): string {
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
function containerAddress(subnet: string, i: number): string {
  const { network } = parseCidr(subnet);
  return formatIpv4(ipv4ToInt(network) + 2 + i);
}

function roundUp(n: number, step: number): number {
  return Math.ceil(n / step) * step;
}

export function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}
