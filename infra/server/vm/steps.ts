// Every step of the lab on a real server VM (provider multipass, qemu or ssh) as plain data: what the
// script builders get, where files are staged, the timeouts. Pure like steps.ts (no Pulumi, no
// I/O): the edge reads the key and builds the workload bundle, the components turn this into
// resources. The clients and the connection test are the netns lab's, unchanged: local Docker,
// reaching the VM's addresses through this machine's NAT.
//
// Lab addresses: on an adopted `ssh` host the primary address is the host's own (never added or
// removed by the lab, and a target of the test, listened on by the server, only with
// server.targetPrimary) and only the secondary addresses go in the netplan drop-in. On `multipass`
// the DHCP address is for management (ssh) only; the primary and the secondary addresses are all
// lab addresses the drop-in adds, so they must lie in the multipass network's subnet. On `qemu` the
// cloud-init seed gives the VM its primary lab address (ssh goes there) and the drop-in adds the rest.
//
// Metrics: on every VM provider the server's /stats listens on server.metricsAddress (loopback by
// default) and the connection test reads it through an ssh tunnel to the host, with the same user,
// key and pinned host key as every remote step.
import type { CapacityPlan } from "../../../shared/plan.js";
import type { LabConfig } from "../../config/schema.js";
import { addressOf } from "../../plan/net.js";
import { findNetplanDevice, renderNetplanDropIn } from "../../../netplan/render.js";
import type { TuningArgs } from "../netns/scripts/tuning.js";
import { parseNetplanProbe, type InstallNetplanOptions } from "./scripts/netplan.js";
import { type MultipassLaunchOptions } from "./multipass/scripts.js";
import { type ServerUnitOptions } from "./scripts/unit.js";
import { type SysctlOptions } from "./scripts/sysctl.js";
import { waitForSshScript } from "./scripts/ssh.js";
import { clientSteps, type ClientSteps } from "../../clients/steps.js";
import { connectionServerArgs } from "../args.js";
import { type LabPaths } from "../../plan/paths.js";
import { vmCloudInit } from "./multipass/scripts.js";
import { type InstallWorkloadOptions } from "./scripts/workload.js";
import { qemuSteps, type QemuSteps } from "./qemu/steps.js";
import { SSH_KEY_ENV } from "../../../shared/protocol.js";
import { clientEhashRaise } from "../../plan/ehash.js";

export type VmServerConfig = Extract<LabConfig["server"], { provider: "ssh" | "multipass" | "qemu" }>;

export class VmStepsError extends Error {
  override name = "VmStepsError";
}

/** Where the server lives on the VM. */
export const VM_WORKDIR = "/opt/c1m-lab";
/** Recorded sysctl values (for restore on destroy); root-only, survives reboots like /etc/sysctl.d does. */
export const VM_STATE_DIR = "/var/lib/c1m-lab";
/** The environment variable the local ssh steps (the wait, the test's tunnel) read the private key from. */
export { SSH_KEY_ENV };
/** Upper bounds (seconds) of each remote step; the scripts bound their own waits inside these. */
export const VM_TIMEOUTS = {
  sshWait: 600,
  staging: 60,
  probe: 60,
  netplanInstall: 600,
  netplanRemove: 300,
  sysctlInstall: 180,
  sysctlRestore: 180,
  workloadInstall: 300,
  unitInstall: 300,
  unitRemove: 180,
  multipassLaunch: 900,
  multipassAddress: 120,
} as const;

export interface SshSteps {
  /** The host to reach: the config's for `ssh`; for `multipass`, known once the VM has an address. */
  host?: string;
  port: number;
  user: string;
  /** ssh: server.hostKey. qemu, multipass: unset here; the key the lab generates for the VM at create. */
  hostKey?: string;
  /** The wait step's environment variable holding the private key; unset = the ssh-agent (server.sshAgent). */
  keyEnv?: string;
  waitTimeoutSeconds: number;
}

export interface MultipassSteps {
  instance: string;
  launch: MultipassLaunchOptions;
  addressTimeoutSeconds: number;
}

export interface VmAddressSteps {
  iface: string;
  /** The addresses the drop-in adds (and destroy removes). Empty: no netplan step. */
  addresses: string[];
  /** Where CopyToRemote stages the drop-in (relative to the ssh user's home). */
  stagedPath: string;
}

export interface VmLabSteps extends ClientSteps {
  provider: "ssh" | "multipass" | "qemu";
  ssh: SshSteps;
  multipass?: MultipassSteps;
  qemu?: QemuSteps;
  /** Upload directory, relative to the ssh user's home. */
  stagingDir: string;
  /** The server's primary lab address (no prefix). */
  primaryAddress: string;
  addresses: VmAddressSteps;
  tuning: {
    /** sysctls on the VM (/etc/sysctl.d/60-c1m-lab.conf). */
    vm: SysctlOptions;
    /** conntrack on this machine, the NAT host (raise-only); null when nothing to do. */
    natHost: TuningArgs | null;
  };
  server: {
    /** The server as one file (see bundle.ts). */
    bundle: { path: string; sha256: string };
    workload: InstallWorkloadOptions;
    unit: ServerUnitOptions;
  };
}

export interface VmInputs {
  /** multipass, qemu: the public key text for cloud-init (read from server.sshPublicKeyPath). */
  sshPublicKey?: string;
  /** qemu: the home directory `~/` in image paths stands for. */
  home?: string;
}

/** The sysctls the VM gets exactly: accept queues, then the stack's own (which win). */
export function vmSysctls(config: LabConfig): Record<string, string | number> {
  return {
    "net.core.somaxconn": 65535,
    "net.ipv4.tcp_max_syn_backlog": 65535,
    ...config.tuning.sysctls,
  };
}

/** Limits the plan needs on the VM, raised only where the host is below them (the stack's own values win). */
export function vmRaisedLimits(config: LabConfig, plan: CapacityPlan): Record<string, number> {
  if (!config.tuning.raiseHostLimits) return {};
  const limits: Record<string, number> = {
    "fs.file-max": plan.needs.fileMax,
    "fs.nr_open": plan.needs.nrOpen,
    "net.netfilter.nf_conntrack_max": plan.needs.conntrackEntries,
  };
  return Object.fromEntries(Object.entries(limits).filter(([k]) => !(k in config.tuning.sysctls)));
}

const isConntrackKey = (k: string) => k.startsWith("net.netfilter.nf_conntrack") || k.startsWith("net.nf_conntrack");

/** This machine NATs the clients: its conntrack table must hold every lab connection. */
export function natHostTuning(config: LabConfig, plan: CapacityPlan, stateDir: string): TuningArgs | null {
  const set = Object.fromEntries(
    Object.entries(config.tuning.sysctls)
      .filter(([k]) => isConntrackKey(k))
      .map(([k, v]) => [k, String(v)]),
  );
  const raise: Record<string, number> = config.tuning.raiseHostLimits
    ? {
        "net.netfilter.nf_conntrack_max": plan.needs.conntrackEntries,
        "net.netfilter.nf_conntrack_buckets": plan.needs.conntrackBuckets,
        ...clientEhashRaise(plan),
      }
    : {};
  for (const key of Object.keys(set)) delete raise[key];
  if (Object.keys(raise).length === 0 && Object.keys(set).length === 0) return null;
  return { stateDir, raise, set, namespaceSysctls: {} };
}

export function vmLabSteps(config: LabConfig, plan: CapacityPlan, stack: string, paths: LabPaths, inputs: VmInputs): VmLabSteps {
  const server = config.server;
  if (server.provider === "netns") throw new VmStepsError(`vmLabSteps builds the VM lab; server.provider is netns`);
  if (config.clients.sourceIps.strategy === "routed") {
    throw new VmStepsError(
      `clients.sourceIps.strategy routed needs a route on the server back to the Docker network, which the ${server.provider} provider does not set up; use masquerade (or host-ips with addresses this machine already has)`,
    );
  }
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(stack)) {
    throw new VmStepsError(`stack name ${JSON.stringify(stack)} cannot name a staging directory`);
  }
  const stagingDir = `.c1m-lab/${stack}`;
  const primary = addressOf(server.primaryAddress);
  // Where the metrics answer on the host: the health check and the test's tunnel go there.
  const metricsHost = server.metricsAddress === "0.0.0.0" ? "127.0.0.1" : server.metricsAddress;
  const client = clientSteps(config, plan, stack, paths, {
    natDestinations: server.addresses.map((a) => `${addressOf(a)}/32`),
    metricsUrl: `http://${metricsHost}:${server.metricsPort}`,
  });

  // The key from the secret (through SSH_KEY_ENV), or none: ssh then asks the agent at SSH_AUTH_SOCK.
  const key = server.sshAgent ? {} : { keyEnv: SSH_KEY_ENV };
  let ssh: SshSteps;
  let multipass: MultipassSteps | undefined;
  let qemu: QemuSteps | undefined;
  if (server.provider === "ssh") {
    ssh = {
      host: server.host,
      port: server.sshPort,
      user: server.user,
      ...(server.hostKey ? { hostKey: server.hostKey } : {}),
      ...key,
      waitTimeoutSeconds: VM_TIMEOUTS.sshWait,
    };
  } else if (server.provider === "qemu") {
    if (inputs.sshPublicKey === undefined || inputs.home === undefined) {
      throw new VmStepsError(`the qemu provider needs the public key (server.sshPublicKeyPath) for cloud-init`);
    }
    // ssh goes to the primary lab address, which the seed's network-config gives the VM.
    qemu = qemuSteps(server, stack, paths.installDir, { sshPublicKey: inputs.sshPublicKey, home: inputs.home });
    ssh = { host: primary, port: 22, user: server.user, ...key, waitTimeoutSeconds: VM_TIMEOUTS.sshWait };
  } else {
    if (inputs.sshPublicKey === undefined) {
      throw new VmStepsError(`the multipass provider needs the public key (server.sshPublicKeyPath) for cloud-init`);
    }
    multipass = {
      instance: server.instance,
      launch: {
        instance: server.instance,
        release: server.release,
        cpus: server.cpus,
        memory: server.memory,
        disk: server.disk,
        cloudInit: vmCloudInit({ sshPublicKey: inputs.sshPublicKey, user: server.user }),
        // The record that the instance is this stack's: a later create deletes only a recorded one.
        recordPath: `${paths.installDir}/multipass-instance`,
        timeoutSeconds: VM_TIMEOUTS.multipassLaunch,
      },
      addressTimeoutSeconds: VM_TIMEOUTS.multipassAddress,
    };
    ssh = { port: 22, user: server.user, ...key, waitTimeoutSeconds: VM_TIMEOUTS.sshWait };
  }

  // ssh: the host's own primary (a target only with targetPrimary); qemu: the seed's. Only multipass adds the primary too.
  const labAddresses =
    server.provider === "multipass" ? server.addresses : server.addresses.filter((a) => addressOf(a) !== primary);
  const stagedBundle = `${stagingDir}/c1m-server.mjs`;
  return {
    ...client,
    provider: server.provider,
    ssh,
    ...(multipass ? { multipass } : {}),
    ...(qemu ? { qemu } : {}),
    stagingDir,
    primaryAddress: primary,
    addresses: { iface: server.interface, addresses: labAddresses, stagedPath: `${stagingDir}/60-c1m-lab.yaml` },
    tuning: {
      vm: { sysctls: vmSysctls(config), raise: vmRaisedLimits(config, plan), stateDir: VM_STATE_DIR },
      natHost: natHostTuning(config, plan, paths.stateDir),
    },
    server: {
      bundle: paths.staged.server,
      workload: { stagedPath: stagedBundle, sha256: paths.staged.server.sha256, workdir: VM_WORKDIR },
      unit: {
        workdir: VM_WORKDIR,
        nodePath: `${VM_WORKDIR}/bin/node`,
        nodeArgs: [],
        serverArgs: connectionServerArgs(config, plan),
        limitNofile: plan.needs.serverFdLimit,
        nrOpen: plan.needs.nrOpen,
        metricsPort: server.metricsPort,
        metricsHost,
        healthTimeoutSeconds: 60,
      },
    },
  };
}

/**
 * The local step that polls until ssh lets us in (the key comes from the environment variable,
 * never the command line; without one, from the ssh-agent), talking only to a host that
 * presents `hostKey`.
 */
export function sshWaitScript(ssh: SshSteps, host: string, hostKey: string): string {
  return waitForSshScript({
    host,
    port: ssh.port,
    user: ssh.user,
    timeoutSeconds: ssh.waitTimeoutSeconds,
    ...(ssh.keyEnv ? { keyEnv: ssh.keyEnv } : {}),
    hostKey,
  });
}

export function netplanInstallOptions(a: VmAddressSteps): InstallNetplanOptions {
  return { stagedPath: a.stagedPath, addresses: a.addresses, iface: a.iface };
}

/**
 * The drop-in for this host, from the netplan probe's output: the ID that configures the
 * interface (a missing or unconfigured interface throws a NetplanError naming what exists), and
 * the lab addresses under it. `managementAddress` (multipass's DHCP address) must not be one of them.
 */
export function netplanDropIn(
  a: VmAddressSteps,
  probeStdout: string,
  managementAddress?: string,
): { netplanId: string; text: string } {
  if (managementAddress && a.addresses.some((x) => addressOf(x) === managementAddress)) {
    throw new VmStepsError(
      `${managementAddress} is the VM's own DHCP (management) address and also a lab address: pick lab addresses outside the DHCP range`,
    );
  }
  const probe = parseNetplanProbe(probeStdout);
  const device = findNetplanDevice(probe.files, a.iface, { links: probe.links });
  return {
    netplanId: device.id,
    text: renderNetplanDropIn({ netplanId: device.id, addresses: a.addresses, deviceType: device.type }),
  };
}
