// One client host's steps as plain data: its share of the client side (image, networks,
// containers, NAT pool: clients/steps.ts on that host's settings and containers), how it is
// reached (ssh options, the lab-made namespace) and its tuning. Pure.
import type { CapacityPlan } from "../../../shared/plan.js";
import type { ClientHostConfig, LabConfig } from "../../config/schema.js";
import type { LabPaths } from "../../plan/paths.js";
import { hostSources } from "../../plan/capacity.js";
import { ehashRaiseFor } from "../../plan/ehash.js";
import { clientSteps, type ClientSteps } from "../steps.js";
import { netnsDockerHostFiles, type NetnsDockerHostArgs } from "../netnsHost/scripts.js";
import type { TuningArgs } from "../../server/netns/scripts/tuning.js";
import { dockerUrl, type SshAccess } from "./ssh.js";

export interface ClientHostSteps extends Pick<ClientSteps, "stack" | "image" | "networks" | "containers" | "natPool"> {
  name: string;
  /** "local" or ssh://user@host:port. */
  docker: string;
  ssh?: {
    access: SshAccess;
    /** This machine's access directory (known_hosts, a secret key's file). */ dir: string;
    hostKey?: string;
  };
  netns?: NetnsDockerHostArgs;
  tuning?: TuningArgs;
}

/** Where a client host's files live on this machine (a lab-made host's everything; an ssh host's known_hosts and key). */
export const clientHostStateDir = (stack: string, host: string) => `/var/lib/c1m-lab/clients-${stack}-${host}`;
export const sshAccessDir = (stack: string, host: string) => `/var/lib/c1m-lab/ssh-${stack}-${host}`;

export function clientHostSteps(
  config: LabConfig,
  plan: CapacityPlan,
  stack: string,
  paths: LabPaths,
  host: ClientHostConfig,
  natDestinations: string[],
): ClientHostSteps {
  const hostConfig: LabConfig = {
    ...config,
    clients: {
      ...config.clients,
      containers: host.containers,
      connectionsPerContainer: host.connectionsPerContainer,
      sourceIps: host.sourceIps,
      natPortRange: host.natPortRange,
      subnet: host.subnet,
    },
  };
  const hostPlan: CapacityPlan = {
    ...plan,
    containers: plan.containers.filter((c) => c.host === host.name),
    clientSources: hostSources(config, host),
  };
  const c = clientSteps(hostConfig, hostPlan, stack, paths, {
    natDestinations,
    prefix: `c1m-${stack}-${host.name}`,
    labContainers: plan.containers,
  });
  const base = { name: host.name, stack, image: c.image, networks: c.networks, containers: c.containers, natPool: c.natPool };
  if (host.docker.kind === "local") return { ...base, docker: "local" };
  const { user, host: address, port } = host.docker;
  if (host.netns) {
    const stateDir = clientHostStateDir(stack, host.name);
    const files = netnsDockerHostFiles({ stateDir });
    const netns: NetnsDockerHostArgs = {
      ...host.netns,
      sshPort: port,
      stateDir,
      execRoot: `/run/c1m-lab/clients-${stack}-${host.name}`,
      owner: `c1m-lab:${stack}:${host.name}`,
    };
    const access: SshAccess = {
      name: host.name,
      user,
      host: address,
      port,
      knownHosts: files.knownHosts,
      identityFile: files.clientKey,
    };
    // It shares this machine's kernel: the host-wide limits are the server side's tuning here.
    return { ...base, docker: dockerUrl(access), netns, ssh: { access, dir: stateDir } };
  }
  const dir = sshAccessDir(stack, host.name);
  const access: SshAccess = {
    name: host.name,
    user,
    host: address,
    port,
    knownHosts: `${dir}/known_hosts`,
    ...(host.sshAgent ? {} : { identityFile: `${dir}/id` }),
  };
  const target = host.containers * host.connectionsPerContainer;
  const conntrack = Math.ceil((target * 1.25 + 16_384) / 1024) * 1024;
  const tuning: TuningArgs = {
    stateDir: `/var/lib/c1m-lab/clients-${stack}-${host.name}`,
    raise: config.tuning.raiseHostLimits
      ? {
          "fs.file-max": Math.ceil((target * 2 + 65_536) / 1024) * 1024,
          "net.netfilter.nf_conntrack_max": conntrack,
          "net.netfilter.nf_conntrack_buckets": conntrack,
          ...ehashRaiseFor(host.connectionsPerContainer),
        }
      : {},
    set: {},
    namespaceSysctls: {},
  };
  return { ...base, docker: dockerUrl(access), ssh: { access, dir, ...(host.hostKey ? { hostKey: host.hostKey } : {}) }, tuning };
}
