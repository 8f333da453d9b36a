// The server side on this machine: a network namespace stands for the server VM. Host →
// secondary IPs and tuning → connection server, each waiting on the one before.
import type * as pulumi from "@pulumi/pulumi";
import type { ServerSide } from "../side.js";
import { SecondaryIps } from "./addresses.js";
import { ConnectionServer } from "./connectionServer.js";
import { ServerHost } from "./host.js";
import type { LabSteps } from "./steps.js";
import { Tuning } from "./tuning.js";

export function netnsServerSide(parent: pulumi.Resource, steps: LabSteps): ServerSide {
  const child = { parent };
  const host = new ServerHost("server-host", steps.host, child);
  const addresses = new SecondaryIps("secondary-ips", { ...steps.addresses, hostId: host.hostId }, child);
  const tuning = new Tuning("tuning", { ...steps.tuning, hostId: host.hostId }, child);
  const server = new ConnectionServer(
    "connection-server",
    {
      ...steps.server,
      install: steps.serverInstall,
      metricsUrl: steps.metricsUrl,
      triggers: [host.hostId, addresses.stepId, tuning.stepId],
    },
    { parent, dependsOn: [addresses, tuning] },
  );
  return { address: host.address, server };
}
