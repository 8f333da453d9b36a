// The client fleet: one image, one Docker network per client source IP, N containers opening
// their share of connections. Everything carries the stack label so it can be found.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { localRunner, type HostRunner } from "./hosts/runner.js";
import { hostNodeBaseCreateScript, hostNodeBaseDeleteScript, imageRemoveScript } from "./images.js";
import { clientBuildArgs } from "./dockerCli.js";
import { clientsStopScript, clientsSweepScript, containerDrainScript } from "./drain.js";
import { script } from "../shell.js";
import { natPoolCreateScript, natPoolDeleteScript, type NatPoolArgs } from "./natPool.js";
import { STACK_LABEL } from "./steps.js";
import { type LabSteps } from "../server/netns/steps.js";

export interface ClientFleetArgs {
  /** The stack: its label marks every client container. */
  stack: string;
  image: LabSteps["image"];
  networks: LabSteps["networks"];
  containers: LabSteps["containers"];
  natPool: NatPoolArgs[];
  /** Upstream step ids: a restarted server restarts the clients. */
  triggers: pulumi.Input<string>[];
  /** Where the scripts run and which Docker the resources go to (default: this machine). */
  runner?: HostRunner;
  /** The host-node base image made by the host's own step (a host reached over ssh), instead of here. */
  baseImage?: pulumi.Resource;
}

const toLabels = (labels: Record<string, string>) => Object.entries(labels).map(([label, value]) => ({ label, value }));

export class ClientFleet extends pulumi.ComponentResource {
  readonly containerIds: pulumi.Output<string[]>;
  readonly imageRef: pulumi.Output<string>;

  constructor(name: string, args: ClientFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:clients:ClientFleet", name, {}, opts);
    const runner = args.runner ?? localRunner;
    const run = runner.script;
    const child = { parent: this, ...(runner.provider ? { provider: runner.provider } : {}) };

    const base = args.baseImage
      ? args.baseImage
      : args.image.hostNodeBase
        ? run(
            `${name}-base-image`,
            {
              create: hostNodeBaseCreateScript(args.image.hostNodeBase),
              delete: hostNodeBaseDeleteScript(args.image.hostNodeBase),
            },
            { parent: this },
          )
        : undefined;
    const image = new docker.Image(
      `${name}-image`,
      {
        imageName: args.image.name,
        build: {
          context: args.image.context,
          dockerfile: args.image.dockerfile,
          args: clientBuildArgs(args.image.baseImage, args.stack),
          // The classic builder: works with any daemon, no buildx needed.
          builderVersion: "BuilderV1",
        },
        skipPush: true,
      },
      { ...child, dependsOn: base ? [base] : [] },
    );
    // docker.Image leaves the local image behind on destroy and, on a rebuild, the old one
    // untagged. This step's delete removes the image by its id (repoDigest, for a local image), so
    // a rebuild replaces the step and removes the old image once the containers using it are gone.
    // Create before delete: the old step is then deleted at the end of the update, after the old
    // containers (they depend on it); delete-before-replace ran it first and docker refused to
    // remove an image a running container uses (seen through the engine on an upgrade).
    const imageCleanup = run(
      `${name}-image-cleanup`,
      {
        create: script("client image keep", ["true"]),
        delete: image.repoDigest.apply(imageRemoveScript),
      },
      // On the base too: when a stack leaves `host-node`, the base's delete then waits for the old
      // image's removal (docker keeps a base that an image still builds on).
      { parent: this, dependsOn: [image, ...(base ? [base] : [])], deleteBeforeReplace: false },
    );

    const networks = new Map(
      args.networks.map((n) => [
        n.name,
        new docker.Network(
          `${name}-${n.name}`,
          {
            name: n.name,
            driver: "bridge",
            ipamConfigs: [{ subnet: n.subnet }],
            options: n.options,
            labels: toLabels(n.labels),
          },
          child,
        ),
      ]),
    );

    // Registered even when empty (no natPortRange): see natPool.ts.
    const natPool = run(
      `${name}-nat-pool`,
      { create: natPoolCreateScript(args.natPool), delete: natPoolDeleteScript(args.natPool) },
      { parent: this, dependsOn: [...networks.values()] },
    );

    // Deleted after the containers the state knows, before the networks and the image: removes the
    // ones it does not know. Never replaced or updated (a replace would remove running clients).
    const labelFilter = `${STACK_LABEL}=${args.stack}`;
    const sweep = run(
      `${name}-sweep`,
      { create: script("client containers: swept on destroy", ["true"]), delete: clientsSweepScript(labelFilter) },
      { parent: this, dependsOn: [imageCleanup, ...networks.values()], ignoreChanges: ["create", "delete", "triggers"] },
    );

    const upstream = pulumi.all([...args.triggers, natPool.id]).apply((t) => t.join(","));
    const containers = args.containers.map(
      (c) =>
        new docker.Container(
          `${name}-${c.name}`,
          {
            name: c.name,
            image: image.repoDigest,
            envs: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
            sysctls: c.sysctls,
            ulimits: [{ name: "nofile", soft: c.nofile, hard: c.nofile }],
            labels: [
              ...toLabels(c.labels),
              // A changed server or NAT pool starts the clients anew: connections made through the
              // old pool would otherwise stay up and be counted against the new one.
              { label: "c1m-lab.upstream", value: upstream },
            ],
            networksAdvanced: [{ name: networks.get(c.network)!.name }],
            restart: c.restart,
            logOpts: { "max-size": "1m", "max-file": "2" },
            mustRun: true,
          },
          { ...child, dependsOn: [imageCleanup, natPool, sweep] },
        ),
    );
    // One drain per client, replaced with it: a replaced client is drained before it is removed.
    const drains = containers.map((c, i) =>
      run(
        `${name}-${args.containers[i]!.name}-drain`,
        {
          create: script("client: drained before removal", ["true"]),
          delete: containerDrainScript(args.containers[i]!.name, labelFilter),
          triggers: [c.id],
        },
        { parent: this, dependsOn: [c] },
      ),
    );

    // Deleted before the containers (it depends on them): stops them all first, see drain.ts.
    run(
      `${name}-stop`,
      {
        create: script("client containers: stopped on destroy", ["true"]),
        delete: clientsStopScript(labelFilter, { subnets: args.networks.map((n) => n.subnet) }),
      },
      // After the drains in the graph, so on destroy it runs first: one conntrack flush for the
      // whole fleet, then the drains find their clients stopped.
      { parent: this, dependsOn: [...containers, ...drains] },
    );

    this.containerIds = pulumi.all(containers.map((c) => c.id));
    this.imageRef = image.repoDigest;
    this.registerOutputs({ containerIds: this.containerIds, imageRef: this.imageRef });
  }
}
