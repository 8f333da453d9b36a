// The Lab: server host → secondary IPs → tuning → connection server → client fleet →
// connection test, each step waiting on the one before through the ids it lists as triggers.
// The server side is a network namespace on this machine (netns) or a real VM (multipass, qemu, ssh);
// the clients and the test are the same for both.
import * as pulumi from "@pulumi/pulumi";
import { stablePlan, type CapacityPlan } from "./capacity.js";
import { ClientFleet } from "./clients/fleet.js";
import type { LabConfig } from "./config.js";
import { ConnectionServer } from "./server/connectionServer.js";
import { QemuServerHost } from "./qemu/host.js";
import { MultipassServerHost } from "./server/multipassHost.js";
import { NetnsServerHost } from "./server/netnsHost.js";
import { SecondaryIps } from "./server/secondaryIps.js";
import { VmServerHost } from "./server/sshHost.js";
import { Tuning } from "./server/tuning.js";
import { VmConnectionServer } from "./server/vmConnectionServer.js";
import { VmSecondaryIps } from "./server/vmSecondaryIps.js";
import { VmTuning } from "./server/vmTuning.js";
import type { ClientSteps, LabPaths, LabSteps } from "./steps.js";
import { ConnectionTest, type ConnectionReport } from "./test/connectionTest.js";
import type { VmLabSteps } from "./vmSteps.js";

export type LabArgs =
  | { config: LabConfig; plan: CapacityPlan; steps: LabSteps; paths: LabPaths }
  | {
      config: LabConfig;
      plan: CapacityPlan;
      steps: VmLabSteps;
      paths: LabPaths;
      /** The ssh private key, a secret (`c1m-lab:sshPrivateKey`). */
      sshPrivateKey: pulumi.Output<string>;
    };

/** What the client side needs from the server side. */
interface ServerSide {
  address: pulumi.Output<string>;
  server: pulumi.Resource & { stepId: pulumi.Output<string>; metricsUrl: pulumi.Output<string> };
}

export class Lab extends pulumi.ComponentResource {
  readonly serverAddress: pulumi.Output<string>;
  readonly metricsUrl: pulumi.Output<string>;
  readonly report: pulumi.Output<ConnectionReport>;

  constructor(name: string, args: LabArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:index:Lab", name, {}, opts);
    const { plan, paths } = args;
    const side = "sshPrivateKey" in args ? this.vmServer(args.steps, args.sshPrivateKey) : this.netnsServer(args.steps);
    const steps: ClientSteps = args.steps;
    const { server } = side;

    const fleet = new ClientFleet(
      "clients",
      {
        stack: steps.stack,
        image: steps.image,
        networks: steps.networks,
        containers: steps.containers,
        natPool: steps.natPool,
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
        planJson: JSON.stringify(stablePlan(plan)),
        root: paths.root,
        triggers: [server.stepId, fleet.containerIds.apply((ids) => ids.join(","))],
      },
      { parent: this, dependsOn: [fleet] },
    );

    this.serverAddress = side.address;
    this.metricsUrl = server.metricsUrl;
    this.report = test.report;
    this.registerOutputs({ serverAddress: this.serverAddress, metricsUrl: this.metricsUrl, report: this.report });
  }

  /** A network namespace on this machine stands for the server VM. */
  private netnsServer(steps: LabSteps): ServerSide {
    const child = { parent: this };
    const host = new NetnsServerHost("server-host", steps.host, child);
    const addresses = new SecondaryIps("secondary-ips", { ...steps.addresses, hostId: host.hostId }, child);
    const tuning = new Tuning("tuning", { ...steps.tuning, hostId: host.hostId }, child);
    const server = new ConnectionServer(
      "connection-server",
      { ...steps.server, metricsUrl: steps.metricsUrl, triggers: [host.hostId, addresses.stepId, tuning.stepId] },
      { parent: this, dependsOn: [addresses, tuning] },
    );
    return { address: host.address, server };
  }

  /** A real VM over ssh: launched by multipass or qemu, or an adopted host. Each step waits for the one before. */
  private vmServer(steps: VmLabSteps, privateKey: pulumi.Output<string>): ServerSide {
    const hostArgs = { ssh: steps.ssh, privateKey, stagingDir: steps.stagingDir, primaryAddress: steps.primaryAddress };
    const host =
      steps.provider === "multipass"
        ? new MultipassServerHost("server-host", { ...hostArgs, multipass: steps.multipass! }, { parent: this })
        : steps.provider === "qemu"
          ? new QemuServerHost("server-host", { ...hostArgs, qemu: steps.qemu! }, { parent: this })
          : new VmServerHost("server-host", { ...hostArgs, host: steps.ssh.host! }, { parent: this });
    const onHost = { connection: host.connection, hostId: host.hostId };
    const addresses = new VmSecondaryIps(
      "secondary-ips",
      {
        ...steps.addresses,
        ...onHost,
        ...(host instanceof MultipassServerHost ? { managementAddress: host.managementAddress } : {}),
      },
      { parent: this, dependsOn: [host] },
    );
    const tuning = new VmTuning("tuning", { ...steps.tuning, ...onHost }, { parent: this, dependsOn: [addresses] });
    const server = new VmConnectionServer(
      "connection-server",
      {
        ...steps.server,
        ...onHost,
        metricsUrl: steps.metricsUrl,
        triggers: [host.hostId, addresses.stepId, tuning.stepId],
      },
      { parent: this, dependsOn: [addresses, tuning] },
    );
    return { address: host.address, server };
  }
}
