// ServerHost, provider multipass: a local Ubuntu VM launched with cloud-init (our user and key,
// Node.js 20, an ssh host key made here); an existing instance of that name is never adopted (see
// multipassLaunchScript). Its DHCP address is for management (ssh) only; the lab addresses come
// from the netplan drop-in. ssh pins the host key the launch step read through `multipass exec`.
// Destroy deletes the instance.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { localScript } from "../../../localScript.js";
import { multipassAddressScript, multipassDeleteScript, multipassLaunchScript } from "./scripts.js";
import type { MultipassSteps, SshSteps } from "../steps.js";
import { hostKeyOf, SshServerHost } from "../host.js";
import { deletedWithMachine } from "../deletedWith.js";
import type { MetricsTunnel } from "../../../check/args.js";

export interface MultipassServerHostArgs {
  multipass: MultipassSteps;
  ssh: SshSteps;
  /** Unset: the ssh-agent (server.sshAgent). */
  privateKey?: pulumi.Input<string>;
  stagingDir: string;
  primaryAddress: string;
}

export class MultipassServerHost extends pulumi.ComponentResource {
  readonly address: pulumi.Output<string>;
  /** The VM's DHCP address (ssh goes there). */
  readonly managementAddress: pulumi.Output<string>;
  readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  readonly hostId: pulumi.Output<string>;
  readonly tunnel: pulumi.Output<MetricsTunnel>;

  /** The instance: what lives on it goes with it (see deletedWithMachine). */
  readonly machine: pulumi.Resource;

  constructor(name: string, args: MultipassServerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:MultipassServerHost", name, {}, opts);
    const mp = args.multipass;
    const instance = localScript(
      `${name}-instance`,
      // The cloud-init text is in the create: cloud-init runs at first boot only, so a new user or key is a new instance.
      { create: multipassLaunchScript(mp.launch), delete: multipassDeleteScript(mp.instance, mp.launch.recordPath) },
      { parent: this },
    );
    const address = localScript(
      `${name}-address`,
      { create: multipassAddressScript(mp.instance, { timeoutSeconds: mp.addressTimeoutSeconds }), triggers: [instance.id] },
      { parent: this, dependsOn: [instance] },
    );
    this.managementAddress = address.stdout.apply((s) => (s ?? "").trim());
    const ssh = new SshServerHost(
      `${name}-ssh`,
      {
        host: this.managementAddress,
        ssh: args.ssh,
        privateKey: args.privateKey,
        stagingDir: args.stagingDir,
        primaryAddress: args.primaryAddress,
        hostKey: hostKeyOf(instance.stdout, `${name}-instance`),
        triggers: [instance.id],
      },
      { parent: this, transformations: [deletedWithMachine(instance)] },
    );
    this.machine = instance;
    this.address = ssh.address;
    this.connection = ssh.connection;
    this.hostId = ssh.hostId;
    this.tunnel = ssh.tunnel;
    this.registerOutputs({ address: this.address, managementAddress: this.managementAddress, hostId: this.hostId });
  }
}
