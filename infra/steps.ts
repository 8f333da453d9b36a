// Every step of the local lab as plain data: script arguments, Docker network and container
// specs, the connection test's flags. Pure: the Pulumi components turn these into resources,
// and the engine-free runner (end-to-end test, bench:scale) runs the same steps directly.
import type { CapacityPlan } from "./capacity.js";
import type { LabConfig } from "./config.js";
import { addressOf, subnetOf, subnetSlice } from "./net.js";
import type { AddressesArgs, NatPoolArgs, NetnsHostArgs, ServerProcessArgs, TuningArgs } from "./scripts/netns.js";
import { CLIENT_ENV } from "../workload/protocol.js";
import type { HostNodeBase } from "./clients/images.js";

export interface LabPaths {
  /** Project root (holds dist/ and workload/Dockerfile). */
  root: string;
  /** Node binary that runs the server and the connection test. */
  node: string;
  /** Runtime state of the lab on this machine. */
  stateDir: string;
  reportsDir: string;
}

export interface NetworkSpec {
  name: string;
  subnet: string;
  /** Docker bridge driver options (source-IP strategy). */
  options: Record<string, string>;
  labels: Record<string, string>;
}

export interface ContainerSpec {
  name: string;
  network: string;
  env: Record<string, string>;
  sysctls: Record<string, string>;
  nofile: number;
  labels: Record<string, string>;
  restart: LabConfig["clients"]["restart"];
}

/** The client side and the connection test: the same whichever server host the lab uses. */
export interface ClientSteps {
  stack: string;
  labels: Record<string, string>;
  metricsUrl: string;
  /** Our NAT rules with a narrowed pool, one per client network (and destination); empty when the pool is Docker's own. */
  natPool: NatPoolArgs[];
  image: { name: string; baseImage: string; context: string; dockerfile: string; hostNodeBase?: HostNodeBase };
  networks: NetworkSpec[];
  containers: ContainerSpec[];
  verifyArgs: string[];
}

export interface LabSteps extends ClientSteps {
  host: NetnsHostArgs;
  addresses: AddressesArgs;
  tuning: TuningArgs;
  server: ServerProcessArgs;
}

/** Labels on every Docker object the lab makes, so each can be found (and cleaned up). */
export const STACK_LABEL = "c1m-lab.stack";

/** Per-namespace keys the server namespace gets regardless of config. */
const SERVER_NAMESPACE_SYSCTLS: Record<string, string> = {
  "net.core.somaxconn": "65535",
  "net.ipv4.tcp_max_syn_backlog": "65535",
  "net.ipv4.ip_local_port_range": "1024 65535",
};

/** Keys that are host-wide (or only writable in the host's namespace); the rest of net.* are per namespace. */
export function isHostWideSysctl(key: string): boolean {
  return !key.startsWith("net.") || key.startsWith("net.netfilter.") || key.startsWith("net.nf_conntrack");
}

export function labSteps(config: LabConfig, plan: CapacityPlan, stack: string, paths: LabPaths): LabSteps {
  const { server, clients } = config;
  if (server.provider !== "netns") {
    throw new Error(`labSteps builds the local netns lab; server.provider is ${server.provider}`);
  }
  const host: NetnsHostArgs = {
    namespace: server.namespace,
    hostInterface: server.hostInterface,
    hostAddress: server.hostAddress,
    interface: server.interface,
    primaryAddress: server.primaryAddress,
    hostSourceAddresses:
      clients.sourceIps.strategy === "host-ips" || clients.sourceIps.strategy === "both" ? clients.sourceIps.addresses : [],
    stateDir: paths.stateDir,
  };

  const hostWide = Object.entries(config.tuning.sysctls).filter(([k]) => isHostWideSysctl(k));
  const perNamespace = Object.entries(config.tuning.sysctls).filter(([k]) => !isHostWideSysctl(k));
  const tuning: TuningArgs = {
    stateDir: paths.stateDir,
    raise: config.tuning.raiseHostLimits
      ? {
          "fs.file-max": plan.needs.fileMax,
          "fs.nr_open": plan.needs.nrOpen,
          "net.netfilter.nf_conntrack_max": plan.needs.conntrackEntries,
          "net.netfilter.nf_conntrack_buckets": plan.needs.conntrackBuckets,
        }
      : {},
    set: Object.fromEntries(hostWide.map(([k, v]) => [k, String(v)])),
    namespace: server.namespace,
    namespaceSysctls: { ...SERVER_NAMESPACE_SYSCTLS, ...Object.fromEntries(perNamespace.map(([k, v]) => [k, String(v)])) },
  };
  // A user override of a raised key wins.
  for (const key of Object.keys(tuning.set)) delete tuning.raise[key];

  const client = clientSteps(config, plan, stack, paths, { natDestinations: [subnetOf(server.hostAddress)] });

  return {
    stack,
    labels: client.labels,
    host,
    addresses: { namespace: server.namespace, interface: server.interface, addresses: server.addresses.slice(1) },
    tuning,
    server: {
      namespace: server.namespace,
      stateDir: paths.stateDir,
      node: paths.node,
      nodeArgs: [],
      serverJs: `${paths.root}/dist/workload/server.js`,
      serverArgs: connectionServerArgs(config, plan),
      readyTimeoutSeconds: 30,
    },
    metricsUrl: client.metricsUrl,
    natPool: client.natPool,
    image: client.image,
    networks: client.networks,
    containers: client.containers,
    verifyArgs: client.verifyArgs,
  };
}

/** The connection server's command-line flags: every lab address, the plan's workers, metrics on the primary. */
export function connectionServerArgs(config: LabConfig, plan: CapacityPlan): string[] {
  const { server } = config;
  return [
    "--port",
    String(server.port),
    "--addresses",
    plan.serverAddresses.join(","),
    "--workers",
    String(plan.serverWorkers),
    "--metrics-port",
    String(server.metricsPort),
    "--metrics-address",
    addressOf(server.primaryAddress),
    "--backlog",
    "4096",
    "--expect-connections",
    String(plan.target),
    ...(plan.serverListenGroups > 1 ? ["--listen-groups", String(plan.serverListenGroups)] : []),
  ];
}

/**
 * Client image, networks, containers, NAT pool rules and the connection test's flags. `natDestinations`:
 * where lab traffic goes (the veth subnet in netns, each lab address /32 on a VM).
 */
export function clientSteps(
  config: LabConfig,
  plan: CapacityPlan,
  stack: string,
  paths: LabPaths,
  options: { natDestinations: string[] },
): ClientSteps {
  const { server, clients } = config;
  const labels = { [STACK_LABEL]: stack, "c1m-lab.managed": "true" };
  const primary = addressOf(server.primaryAddress);
  const strategy = clients.sourceIps.strategy;
  const networkCount = strategy === "host-ips" || strategy === "both" ? plan.clientSources.length : 1;
  const networks: NetworkSpec[] = Array.from({ length: networkCount }, (_, i) => {
    const options: Record<string, string> = {};
    if (strategy === "host-ips" || strategy === "both") options["com.docker.network.host_ipv4"] = plan.clientSources[i]!;
    if (strategy === "routed") options["com.docker.network.bridge.enable_ip_masquerade"] = "false";
    return {
      name: `c1m-${stack}-clients${networkCount > 1 ? `-${i}` : ""}`,
      subnet: networkCount > 1 ? subnetSlice(clients.subnet, i) : subnetOf(clients.subnet),
      options,
      labels,
    };
  });

  const sysctls: Record<string, string> =
    clients.localPortRange === "docker-default"
      ? {}
      : { "net.ipv4.ip_local_port_range": `${clients.localPortRange.from} ${clients.localPortRange.to}` };
  const containers: ContainerSpec[] = plan.containers.map((c) => {
    const name = `c1m-${stack}-client-${c.index}`;
    return {
      name,
      network: networks[c.network]!.name,
      env: {
        [CLIENT_ENV.targets]: c.targets.join(","),
        [CLIENT_ENV.connections]: String(c.connections),
        [CLIENT_ENV.targetOrder]: clients.targetOrder,
        [CLIENT_ENV.connectRate]: String(clients.connectRate),
        [CLIENT_ENV.maxInFlight]: String(clients.maxInFlight),
        [CLIENT_ENV.connectTimeoutMs]: String(clients.connectTimeoutMs),
        [CLIENT_ENV.pingPayload]: clients.ping.payload,
        [CLIENT_ENV.pingIntervalSeconds]: String(clients.ping.intervalSeconds),
        [CLIENT_ENV.holdSeconds]: "0",
        [CLIENT_ENV.clientName]: name,
      },
      sysctls,
      nofile: plan.needs.containerNofile,
      labels: { ...labels, "c1m-lab.role": "client", "c1m-lab.index": String(c.index) },
      restart: clients.restart,
    };
  });

  const natPortRange = clients.natPortRange;
  const natPool: NatPoolArgs[] =
    natPortRange && strategy !== "routed"
      ? networks.flatMap((n) =>
          options.natDestinations.map((destination) => ({
            source: n.subnet,
            destination,
            from: natPortRange.from,
            to: natPortRange.to,
            comment: `c1m-lab:${stack}`,
            toSource: n.options["com.docker.network.host_ipv4"],
          })),
        )
      : [];

  const metricsUrl = `http://${primary}:${server.metricsPort}`;
  const verifyArgs = [
    "--metrics-url",
    metricsUrl,
    "--clients-label",
    `${STACK_LABEL}=${stack}`,
    "--conntrack",
    "local",
    "--expect",
    config.test.expect,
    "--timeout-seconds",
    String(config.test.timeoutSeconds),
    "--stall-seconds",
    String(config.test.stallSeconds),
    "--soak-seconds",
    String(config.test.soakSeconds),
    "--stack",
    stack,
    "--reports-dir",
    paths.reportsDir,
  ];
  const { dashboard } = config.test;
  if (dashboard) {
    verifyArgs.push(
      "--dashboard",
      `${dashboard.host}:${dashboard.port}`,
      "--dashboard-linger-seconds",
      String(dashboard.lingerSeconds),
    );
  }

  return {
    stack,
    labels,
    metricsUrl,
    natPool,
    image: {
      name: `c1m-lab-client:${stack}`,
      ...(clients.baseImage === "host-node"
        ? { baseImage: `c1m-lab-node:${stack}`, hostNodeBase: { name: `c1m-lab-node:${stack}`, node: paths.node } }
        : { baseImage: clients.baseImage }),
      context: paths.root,
      dockerfile: `${paths.root}/workload/Dockerfile`,
    },
    networks,
    containers,
    verifyArgs,
  };
}
