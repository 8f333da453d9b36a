// The server side on a real VM over ssh: launched by multipass or qemu, or an adopted host.
// Host → secondary IPs (netplan drop-in) → tuning → connection server, each waiting on the one before.
import type * as pulumi from "@pulumi/pulumi";
import type { ServerSide } from "../side.js";
import { SecondaryIps } from "./addresses.js";
import { ConnectionServer } from "./connectionServer.js";
import { SshServerHost } from "./host.js";
import { MultipassServerHost } from "./multipass/host.js";
import { QemuServerHost } from "./qemu/host.js";
import type { VmLabSteps } from "./steps.js";
import { deletedWithMachine } from "./deletedWith.js";
import { Tuning } from "./tuning.js";

/** `privateKey`: the ssh private key, a secret (`c1m-lab:sshPrivateKey`); undefined: the ssh-agent (server.sshAgent). */
export function vmServerSide(
  parent: pulumi.Resource,
  steps: VmLabSteps,
  privateKey: pulumi.Output<string> | undefined,
): ServerSide {
  const hostArgs = { ssh: steps.ssh, privateKey, stagingDir: steps.stagingDir, primaryAddress: steps.primaryAddress };
  const host =
    steps.provider === "multipass"
      ? new MultipassServerHost("server-host", { ...hostArgs, multipass: steps.multipass! }, { parent })
      : steps.provider === "qemu"
        ? new QemuServerHost("server-host", { ...hostArgs, qemu: steps.qemu! }, { parent })
        : new SshServerHost("server-host", { ...hostArgs, host: steps.ssh.host!, hostKey: steps.ssh.hostKey! }, { parent });
  const onHost = { connection: host.connection, hostId: host.hostId };
  const onMachine = "machine" in host ? { transformations: [deletedWithMachine(host.machine)] } : {};
  const addresses = new SecondaryIps(
    "secondary-ips",
    {
      ...steps.addresses,
      ...onHost,
      ...(host instanceof MultipassServerHost ? { managementAddress: host.managementAddress } : {}),
    },
    { parent, dependsOn: [host], ...onMachine },
  );
  const tuning = new Tuning("tuning", { ...steps.tuning, ...onHost }, { parent, dependsOn: [addresses], ...onMachine });
  const server = new ConnectionServer(
    "connection-server",
    { ...steps.server, ...onHost, metricsUrl: steps.metricsUrl, triggers: [host.hostId, addresses.stepId, tuning.stepId] },
    { parent, dependsOn: [addresses, tuning], ...onMachine },
  );
  return { address: host.address, server, metricsTunnel: host.tunnel };
}
