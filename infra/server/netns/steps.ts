// Every step of the local lab as plain data: the namespace that stands for the server VM, its
// secondary addresses, the tuning, the server process, plus the client side (clients/steps.ts).
// Pure: the Pulumi components turn these into resources, and the engine-free runner (end-to-end
// test, bench:scale) runs the same steps directly.
import type { CapacityPlan } from "../../../shared/plan.js";
import type { LabConfig } from "../../config/schema.js";
import type { LabPaths } from "../../plan/paths.js";
import { subnetOf } from "../../plan/net.js";
import { clientSteps, type ClientSteps } from "../../clients/steps.js";
import { connectionServerArgs } from "../args.js";
import type { AddressesArgs } from "./scripts/addresses.js";
import type { NetnsHostArgs } from "./scripts/host.js";
import { serverRestartScript, type ServerProcessArgs } from "./scripts/server.js";
import { RESTART_SCRIPT_ENV } from "../../../shared/protocol.js";
import type { TuningArgs } from "./scripts/tuning.js";
import { installOf, installedPath, type InstallFileArgs } from "../../install/scripts.js";
import { clientEhashRaise, ehashEntriesFor } from "../../plan/ehash.js";

export interface LabSteps extends ClientSteps {
  host: NetnsHostArgs;
  addresses: AddressesArgs;
  tuning: TuningArgs;
  server: ServerProcessArgs;
  /** The server bundle, installed into the stack's directory before it starts. */
  serverInstall: InstallFileArgs;
}

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
    owner: `c1m-lab:${stack}`,
    ehashEntries: ehashEntriesFor(plan.target),
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
          ...clientEhashRaise(plan),
        }
      : {},
    set: Object.fromEntries(hostWide.map(([k, v]) => [k, String(v)])),
    namespace: server.namespace,
    namespaceSysctls: { ...SERVER_NAMESPACE_SYSCTLS, ...Object.fromEntries(perNamespace.map(([k, v]) => [k, String(v)])) },
  };
  // A user override of a raised key wins.
  for (const key of Object.keys(tuning.set)) delete tuning.raise[key];

  const client = clientSteps(config, plan, stack, paths, { natDestinations: [subnetOf(server.hostAddress)] });
  const serverInstall = installOf(paths.staged.server, paths.installDir);

  const serverProcess: ServerProcessArgs = {
    namespace: server.namespace,
    stateDir: paths.stateDir,
    node: paths.node,
    nodeArgs: [],
    serverJs: installedPath(serverInstall),
    serverArgs: connectionServerArgs(config, plan),
    readyTimeoutSeconds: 30,
  };

  return {
    stack,
    labels: client.labels,
    host,
    addresses: { namespace: server.namespace, interface: server.interface, addresses: server.addresses.slice(1) },
    tuning,
    server: serverProcess,
    serverInstall,
    metricsUrl: client.metricsUrl,
    natPool: client.natPool,
    image: client.image,
    networks: client.networks,
    containers: client.containers,
    verifyArgs: client.verifyArgs,
    ...(config.test.scenario === "reconnect-storm"
      ? { verifyEnv: { [RESTART_SCRIPT_ENV]: serverRestartScript(serverProcess) } }
      : {}),
    verifyInstall: client.verifyInstall,
  };
}
