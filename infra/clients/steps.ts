// The client side as plain data, the same whichever server host the lab uses: the client image,
// one Docker network per source IP, the containers and their share of the plan, our NAT pool
// rules, and the connection test's flags. Pure: ClientFleet turns it into resources, and the
// engine-free runner runs the same specs with the docker CLI.
import type { CapacityPlan } from "../../shared/plan.js";
import type { LabConfig } from "../config/schema.js";
import type { LabPaths } from "../plan/paths.js";
import { addressOf, subnetOf, subnetSlice } from "../plan/net.js";
import type { NatPoolArgs } from "./natPool.js";
import type { HostNodeBase } from "./images.js";
import { CLIENT_ENV } from "../../shared/protocol.js";
import { connectionTestArgs } from "../check/args.js";
import { installOf, type InstallFileArgs } from "../install/scripts.js";
import { stepEnv } from "./stepEnv.js";

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
  /** More environment for the connection test (the server's restart script for a reconnect storm); no secret. */
  verifyEnv?: Record<string, string>;
  /** The connection test's bundle, installed into the stack's directory (it runs from there). */
  verifyInstall: InstallFileArgs;
}

/** Labels on every Docker object the lab makes, so each can be found (and cleaned up). */
export const STACK_LABEL = "c1m-lab.stack";

/**
 * Client image, networks, containers, NAT pool rules and the connection test's flags. `natDestinations`:
 * where lab traffic goes (the veth subnet in netns, each lab address /32 on a VM); `metricsUrl`:
 * the server's metrics as the test reads them (default: the primary address).
 */
export function clientSteps(
  config: LabConfig,
  plan: CapacityPlan,
  stack: string,
  paths: LabPaths,
  options: {
    natDestinations: string[];
    metricsUrl?: string;
    /** Names' prefix (default c1m-<stack>; a client host's: c1m-<stack>-<host>). */ prefix?: string;
    /** Every client host's containers, whose find-limit step shares these containers take part in (default: plan's). */
    labContainers?: CapacityPlan["containers"];
  },
): ClientSteps {
  const prefix = options.prefix ?? `c1m-${stack}`;
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
      name: `${prefix}-clients${networkCount > 1 ? `-${i}` : ""}`,
      subnet: networkCount > 1 ? subnetSlice(clients.subnet, i) : subnetOf(clients.subnet),
      options,
      labels,
    };
  });

  const sysctls: Record<string, string> =
    clients.localPortRange === "docker-default"
      ? {}
      : { "net.ipv4.ip_local_port_range": `${clients.localPortRange.from} ${clients.localPortRange.to}` };
  const stepOf = stepEnv(config.test, options.labContainers ?? plan.containers);
  const containers: ContainerSpec[] = plan.containers.map((c) => {
    const name = `${prefix}-client-${c.index}`;
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
        [CLIENT_ENV.reconnectBaseMs]: String(clients.reconnect.baseMs),
        [CLIENT_ENV.reconnectCapMs]: String(clients.reconnect.capMs),
        [CLIENT_ENV.reconnectJitter]: clients.reconnect.jitter,
        [CLIENT_ENV.clientName]: name,
        ...stepOf(c.index),
        // Only for the storm and the flush: every other stack's containers keep their environment (and are not replaced).
        ...(config.test.scenario !== "hold" ? { [CLIENT_ENV.reconnect]: "1" } : {}),
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

  // On a VM: the URL on the server host, which the test reaches through ssh (see vm/steps.ts).
  const metricsUrl = options.metricsUrl ?? `http://${primary}:${server.metricsPort}`;
  const verifyArgs = connectionTestArgs(config, stack, paths, {
    metricsUrl,
    clientsLabel: `${STACK_LABEL}=${stack}`,
    clientSubnets: networks.map((n) => n.subnet),
  });

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
      context: paths.staged.clientImage.context,
      dockerfile: paths.staged.clientImage.dockerfile,
    },
    networks,
    containers,
    verifyArgs,
    verifyInstall: installOf(paths.staged.verify, paths.installDir),
  };
}
