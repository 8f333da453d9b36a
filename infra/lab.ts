// The Lab: server host → secondary IPs → tuning → connection server → client fleet →
// connection test, each step waiting on the one before through the ids it lists as triggers.
import * as pulumi from "@pulumi/pulumi";
import type { CapacityPlan } from "./capacity.js";
import { ClientFleet } from "./clients/fleet.js";
import type { LabConfig } from "./config.js";
import { ConnectionServer } from "./server/connectionServer.js";
import { NetnsServerHost } from "./server/netnsHost.js";
import { SecondaryIps } from "./server/secondaryIps.js";
import { Tuning } from "./server/tuning.js";
import type { LabPaths, LabSteps } from "./steps.js";
import { ConnectionTest, type ConnectionReport } from "./test/connectionTest.js";

export interface LabArgs {
  config: LabConfig;
  plan: CapacityPlan;
  steps: LabSteps;
  paths: LabPaths;
}

export class Lab extends pulumi.ComponentResource {
  readonly serverAddress: pulumi.Output<string>;
  readonly metricsUrl: pulumi.Output<string>;
  readonly report: pulumi.Output<ConnectionReport>;

  constructor(name: string, args: LabArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:index:Lab", name, {}, opts);
    const { steps, plan, paths, config } = args;
    const child = { parent: this };

    const host = new NetnsServerHost("server-host", steps.host, child);
    const addresses = new SecondaryIps("secondary-ips", { ...steps.addresses, hostId: host.hostId }, child);
    const tuning = new Tuning("tuning", { ...steps.tuning, hostId: host.hostId }, child);
    const server = new ConnectionServer(
      "connection-server",
      { ...steps.server, metricsUrl: steps.metricsUrl, triggers: [host.hostId, addresses.stepId, tuning.stepId] },
      { parent: this, dependsOn: [addresses, tuning] },
    );
    const fleet = new ClientFleet(
      "clients",
      {
        image: steps.image,
        networks: steps.networks,
        containers: steps.containers,
        natPool: steps.natPool,
        dockerHost: config.clients.dockerHost,
        triggers: [server.stepId],
      },
      { parent: this, dependsOn: [server] },
    );
    const test = new ConnectionTest(
      "connection-test",
      {
        node: paths.node,
        verifyJs: `${paths.root}/dist/workload/verify.js`,
        verifyArgs: steps.verifyArgs,
        planJson: JSON.stringify(plan),
        root: paths.root,
        triggers: [server.stepId, fleet.containerIds.apply((ids) => ids.join(","))],
      },
      { parent: this, dependsOn: [fleet] },
    );

    this.serverAddress = host.address;
    this.metricsUrl = server.metricsUrl;
    this.report = test.report;
    this.registerOutputs({ serverAddress: this.serverAddress, metricsUrl: this.metricsUrl, report: this.report });
  }
}
