// The Lab: server host → secondary IPs → tuning → connection server → client fleet →
// connection test, each step waiting on the one before through the ids it lists as triggers.
// The server side is a network namespace on this machine (netns) or a real VM (multipass, qemu, ssh);
// the clients and the test are the same for both.
import * as pulumi from "@pulumi/pulumi";
import type { CapacityPlan } from "../shared/plan.js";
import { ConnectionTest, type ConnectionReport } from "./check/connectionTest.js";
import { ClientFleet } from "./clients/fleet.js";
import type { ClientSteps } from "./clients/steps.js";
import type { LabConfig } from "./config/schema.js";
import { stablePlan } from "./plan/capacity.js";
import type { LabPaths } from "./plan/paths.js";
import { netnsServerSide } from "./server/netns/index.js";
import type { LabSteps } from "./server/netns/steps.js";
import { vmServerSide } from "./server/vm/index.js";
import type { VmLabSteps } from "./server/vm/steps.js";
import type { ServerSide } from "./server/side.js";
import { ClientHost } from "./clients/hosts/clientHost.js";
import type { ClientHostSteps } from "./clients/hosts/steps.js";
import type { ClientHostAccess } from "./check/args.js";

/** With clients.hosts: each host's steps, and the login key of ssh hosts that do not use the agent. */
export interface LabClientHosts {
  clientHosts?: { steps: ClientHostSteps[]; sshPrivateKey?: pulumi.Output<string> };
}

export type LabArgs = LabClientHosts &
  (
    | { config: LabConfig; plan: CapacityPlan; steps: LabSteps; paths: LabPaths }
    | {
        config: LabConfig;
        plan: CapacityPlan;
        steps: VmLabSteps;
        paths: LabPaths;
        /** The ssh private key, a secret (`c1m-lab:sshPrivateKey`); undefined: the ssh-agent (server.sshAgent). */
        sshPrivateKey: pulumi.Output<string> | undefined;
      }
  );

export class Lab extends pulumi.ComponentResource {
  readonly serverAddress: pulumi.Output<string>;
  readonly metricsUrl: pulumi.Output<string>;
  readonly report: pulumi.Output<ConnectionReport>;

  constructor(name: string, args: LabArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:index:Lab", name, {}, opts);
    const { plan, paths } = args;
    // Component type tokens (c1m-lab:server:VmTuning, ...) predate the backend folders and stay
    // as they are: a new token changes every URN, and the engine would replace a running lab.
    const side = "sshPrivateKey" in args ? vmServerSide(this, args.steps, args.sshPrivateKey) : netnsServerSide(this, args.steps);
    const steps: ClientSteps = args.steps;
    const { server } = side;

    const fleet = args.clientHosts
      ? clientHosts(this, args.clientHosts.steps, [server.stepId], server, args.clientHosts.sshPrivateKey)
      : singleFleet(this, steps, server);
    const test = new ConnectionTest(
      "connection-test",
      {
        node: paths.node,
        install: steps.verifyInstall,
        verifyArgs: steps.verifyArgs,
        planJson: JSON.stringify(stablePlan(plan)),
        ...(steps.verifyEnv ? { environment: steps.verifyEnv } : {}),
        triggers: [server.stepId, fleet.containerIds.apply((ids) => ids.join(","))],
        ...(side.metricsTunnel ? { tunnel: side.metricsTunnel } : {}),
        ...("sshPrivateKey" in args && args.sshPrivateKey ? { sshPrivateKey: args.sshPrivateKey } : {}),
        ...(fleet.access ? { clientHosts: fleet.access } : {}),
      },
      { parent: this, dependsOn: fleet.resources },
    );

    this.serverAddress = side.address;
    this.metricsUrl = server.metricsUrl;
    this.report = test.report;
    this.registerOutputs({ serverAddress: this.serverAddress, metricsUrl: this.metricsUrl, report: this.report });
  }
}

interface Fleet {
  containerIds: pulumi.Output<string[]>;
  resources: pulumi.Resource[];
  /** With clients.hosts: how the connection test reads each host. */
  access?: pulumi.Output<ClientHostAccess[]>;
}

/** The one client host of a stack without clients.hosts: the fleet as it always was (same names, same state). */
function singleFleet(parent: pulumi.Resource, steps: ClientSteps, server: ServerSide["server"]): Fleet {
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
    { parent, dependsOn: [server] },
  );
  return { containerIds: fleet.containerIds, resources: [fleet] };
}

/**
 * One ClientHost per host: all are reached first, then each builds its clients once every host
 * is reached and the server is up (an unreachable host fails the update before any host gets a
 * client).
 */
function clientHosts(
  parent: pulumi.Resource,
  steps: ClientHostSteps[],
  triggers: pulumi.Input<string>[],
  server: ServerSide["server"],
  sshPrivateKey: pulumi.Output<string> | undefined,
): Fleet {
  const hosts = steps.map(
    (s) => new ClientHost(`clients-${s.name}`, { steps: s, ...(sshPrivateKey ? { privateKey: sshPrivateKey } : {}) }, { parent }),
  );
  const gate = [server, ...hosts.map((h) => h.reached)];
  const ids = hosts.map((h) => h.build(gate, triggers));
  return {
    containerIds: pulumi.all(ids).apply((all) => all.flat()),
    resources: hosts,
    access: pulumi.all(hosts.map((h) => h.access)),
  };
}
