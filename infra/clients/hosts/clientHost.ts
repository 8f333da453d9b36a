// One client host (clients.hosts[i]) as one component: how it is reached (this machine; a host
// reached over ssh; or one the lab makes here, a namespace with its own dockerd and sshd), its
// tuning, and its ClientFleet (image built there, networks, NAT pool, containers, drains).
// Adding a host adds one child of the Lab.
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { ClientFleet } from "../fleet.js";
import { localScript } from "../../localScript.js";
import { hostNodeBaseCreateScript, hostNodeBaseDeleteScript } from "../images.js";
import { netnsDockerHostCreateScript, netnsDockerHostDeleteScript } from "../netnsHost/scripts.js";
import { tuningCreateScript, tuningDeleteScript } from "../../server/netns/scripts/tuning.js";
import { localRunner, sshRunner, type HostRunner } from "./runner.js";
import { dockerUrl, KEY_ENV, sshAccessCreateScript, sshAccessDeleteScript, sshOptions, withRemoteDocker } from "./ssh.js";
import type { ClientHostSteps } from "./steps.js";
import type { ClientHostAccess } from "../../check/args.js";

export interface ClientHostArgs {
  steps: ClientHostSteps;
  /** The login key of a host reached over ssh without the agent (a secret). */
  privateKey?: pulumi.Input<string>;
}

/**
 * A client host as the Lab sees it: first reached (all hosts before any makes anything, so an
 * unreachable host fails the update with nothing made on the others), then built. A fleet of
 * another kind (Kubernetes, later) implements the same two steps.
 */
export interface ClientHostLike extends pulumi.ComponentResource {
  /** Ready once the host is reachable. */
  readonly reached: pulumi.Resource;
  /** How the connection test reads the host (its Docker, its conntrack). */
  readonly access: pulumi.Output<ClientHostAccess>;
  /** Makes the host's clients once every host in `gate` is reached; `triggers`: upstream ids (the server). */
  build(gate: pulumi.Resource[], triggers: pulumi.Input<string>[]): pulumi.Output<string[]>;
}

export class ClientHost extends pulumi.ComponentResource implements ClientHostLike {
  readonly reached: pulumi.Resource;
  readonly access: pulumi.Output<ClientHostAccess>;
  private readonly runner: HostRunner;
  private readonly base: pulumi.Resource | undefined;
  private readonly hostName: string;
  private readonly steps: ClientHostSteps;

  constructor(name: string, args: ClientHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:clients:ClientHost", name, {}, opts);
    this.hostName = name;
    const s = (this.steps = args.steps);
    if (!s.ssh) {
      this.runner = localRunner;
      this.base = undefined;
      this.reached = localScript(`${name}-local`, { create: "true" }, { parent: this });
      this.access = pulumi.output({ name: s.name, docker: "local" });
      return;
    }
    const access = s.ssh.access;
    let hostKey: pulumi.Output<string>;
    let privateKey: pulumi.Output<string> | undefined;
    let reached: pulumi.CustomResource;
    if (s.netns) {
      // The host the lab makes: its create prints the host key it made; the login key is a file there.
      const made = localScript(
        `${name}-netns`,
        { create: netnsDockerHostCreateScript(s.netns), delete: netnsDockerHostDeleteScript(s.netns) },
        { parent: this },
      );
      hostKey = made.stdout.apply((out) => hostKeyLine(out, s.name));
      privateKey = pulumi.secret(made.stdout.apply(() => readKey(access.identityFile!)));
      reached = made;
    } else {
      hostKey = pulumi.output(s.ssh.hostKey!);
      privateKey = args.privateKey === undefined ? undefined : pulumi.secret(pulumi.output(args.privateKey));
      reached = new command.local.Command(
        `${name}-ssh-access`,
        {
          interpreter: ["/bin/bash", "-c"],
          create: sshAccessCreateScript({ ...access, dir: s.ssh.dir, hostKey: s.ssh.hostKey!, waitSeconds: 30 }),
          delete: sshAccessDeleteScript(s.ssh.dir),
          ...(privateKey ? { environment: { [KEY_ENV]: privateKey } } : {}),
          logging: "stderr",
        },
        { parent: this, deleteBeforeReplace: true },
      );
    }
    this.reached = reached;
    this.access = hostKey.apply((k) => ({
      name: s.name,
      docker: dockerUrl(access),
      hostKey: k,
      ...(access.identityFile ? { identityFile: access.identityFile } : {}),
    }));
    const upstream = [reached.id];
    const provider = new docker.Provider(
      `${name}-docker`,
      { host: dockerUrl(access), sshOpts: sshOptions(access) },
      { parent: this, dependsOn: [reached] },
    );
    const connection = pulumi.secret(
      pulumi.all([hostKey, privateKey]).apply(([k, key]) => ({
        host: access.host,
        port: access.port,
        user: access.user,
        ...(key ? { privateKey: key } : {}),
        hostKey: k,
        perDialTimeout: 15,
        dialErrorLimit: 4,
      })),
    );
    this.runner = sshRunner(connection, provider, upstream);
    const b = s.image.hostNodeBase;
    this.base = b
      ? localScript(
          `${name}-base-image`,
          {
            create: withRemoteDocker(access, hostNodeBaseCreateScript(b)),
            delete: withRemoteDocker(access, hostNodeBaseDeleteScript(b)),
            triggers: upstream,
          },
          { parent: this, dependsOn: [reached] },
        )
      : undefined;
  }

  build(gate: pulumi.Resource[], triggers: pulumi.Input<string>[]): pulumi.Output<string[]> {
    const s = this.steps;
    // Tuning of a host reached over ssh (this machine's is the server side's): raise-only, put back on destroy.
    const tuning = s.tuning
      ? this.runner.script(
          `${this.hostName}-tuning`,
          { create: tuningCreateScript(s.tuning), delete: tuningDeleteScript(s.tuning) },
          { parent: this, dependsOn: gate },
        )
      : undefined;
    const fleet = new ClientFleet(
      `${this.hostName}-fleet`,
      {
        stack: s.stack,
        image: s.image,
        networks: s.networks,
        containers: s.containers,
        natPool: s.natPool,
        triggers: [...triggers, ...(tuning ? [tuning.id] : [])],
        runner: this.runner,
        ...(this.base ? { baseImage: this.base } : {}),
      },
      { parent: this, dependsOn: [...gate, ...(tuning ? [tuning] : []), ...(this.base ? [this.base] : [])] },
    );
    this.registerOutputs({ containerIds: fleet.containerIds });
    return fleet.containerIds;
  }
}

/** The "hostkey: TYPE KEY" line a host's create printed. */
function hostKeyLine(stdout: string, host: string): string {
  const m = /^hostkey: (\S+ \S+)$/m.exec(stdout ?? "");
  if (!m) throw new pulumi.RunError(`c1m-lab: client host ${host}: its create printed no host key`);
  return m[1]!;
}

/** The login key the host's create made (read when the step has run; "" in a preview before it has). */
function readKey(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
