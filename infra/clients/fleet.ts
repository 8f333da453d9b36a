// The client fleet: one image, one Docker network per client source IP, N containers opening
// their share of connections. Everything carries the stack label so it can be found.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { localScript } from "../localScript.js";
import { hostNodeBaseCreateScript, hostNodeBaseDeleteScript, imageRemoveScript } from "./images.js";
import { clientsStopScript } from "./drain.js";
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
}

const toLabels = (labels: Record<string, string>) => Object.entries(labels).map(([label, value]) => ({ label, value }));

export class ClientFleet extends pulumi.ComponentResource {
  readonly containerIds: pulumi.Output<string[]>;
  readonly imageRef: pulumi.Output<string>;

  constructor(name: string, args: ClientFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:clients:ClientFleet", name, {}, opts);
    const child = { parent: this };

    const base = args.image.hostNodeBase
      ? localScript(
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
          args: { BASE_IMAGE: args.image.baseImage },
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
    const imageCleanup = localScript(
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
    const natPool = localScript(
      `${name}-nat-pool`,
      { create: natPoolCreateScript(args.natPool), delete: natPoolDeleteScript(args.natPool) },
      { parent: this, dependsOn: [...networks.values()] },
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
          { ...child, dependsOn: [imageCleanup, natPool] },
        ),
    );

    // Deleted before the containers (it depends on them): stops them all first, see drain.ts.
    localScript(
      `${name}-stop`,
      {
        create: script("client containers: stopped on destroy", ["true"]),
        delete: clientsStopScript(`${STACK_LABEL}=${args.stack}`, { subnets: args.networks.map((n) => n.subnet) }),
      },
      { parent: this, dependsOn: containers },
    );

    this.containerIds = pulumi.all(containers.map((c) => c.id));
    this.imageRef = image.repoDigest;
    this.registerOutputs({ containerIds: this.containerIds, imageRef: this.imageRef });
  }
}
