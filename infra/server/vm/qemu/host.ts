// ServerHost, provider qemu: a local VM on a lab-owned bridge. Bridge and tap (checks first: qemu
// installed, names free) → overlay on the base image and the cloud-init seed → the VM process →
// ssh on the primary lab address (the seed's network-config gives it), as for an adopted host,
// pinned to the host key the disk step generated for the VM and put in its seed.
// Destroy, in reverse: upload directory, VM stopped, overlay and seed removed, tap, bridge and rules.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { hostInstance } from "../../../instance.js";
import { localScript } from "../../../localScript.js";
import { INSTANCE_ENV } from "../../../shell.js";
import { hostKeyOf, SshServerHost } from "../host.js";
import { deletedWithMachine } from "../deletedWith.js";
import type { SshSteps } from "../steps.js";
import type { MetricsTunnel } from "../../../check/args.js";
import {
  qemuDiskCreateScript,
  qemuDiskDeleteScript,
  qemuInstanceScript,
  qemuNetworkCreateScript,
  qemuNetworkDeleteScript,
  qemuStartScript,
  qemuStopScript,
} from "./scripts.js";
import type { QemuSteps } from "./steps.js";

export interface QemuServerHostArgs {
  qemu: QemuSteps;
  ssh: SshSteps;
  /** Unset: the ssh-agent (server.sshAgent). */
  privateKey?: pulumi.Input<string>;
  stagingDir: string;
  primaryAddress: string;
}

export class QemuServerHost extends pulumi.ComponentResource {
  readonly address: pulumi.Output<string>;
  readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  readonly hostId: pulumi.Output<string>;
  readonly tunnel: pulumi.Output<MetricsTunnel>;
  /** The VM's disk: what lives on the VM goes with it (see deletedWithMachine). */
  readonly machine: pulumi.Resource;

  constructor(name: string, args: QemuServerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:QemuServerHost", name, {}, opts);
    const { network, disk, vm } = args.qemu;
    const net = localScript(
      `${name}-network`,
      { create: qemuNetworkCreateScript(network), delete: qemuNetworkDeleteScript(network) },
      { parent: this },
    );
    const overlay = localScript(
      `${name}-disk`,
      { create: qemuDiskCreateScript(disk), delete: qemuDiskDeleteScript(disk) },
      { parent: this, dependsOn: [net] },
    );
    const machine = localScript(
      `${name}-vm`,
      {
        create: qemuStartScript(vm),
        delete: qemuStopScript(vm),
        // A VM that is not running (killed, or the machine rebooted) gets a new token: `up` starts it anew.
        environment: { [INSTANCE_ENV]: pulumi.output(hostInstance(qemuInstanceScript(vm))) },
        triggers: [net.id, overlay.id],
      },
      { parent: this, dependsOn: [net, overlay] },
    );
    const ssh = new SshServerHost(
      `${name}-ssh`,
      {
        host: args.ssh.host!,
        ssh: args.ssh,
        privateKey: args.privateKey,
        stagingDir: args.stagingDir,
        primaryAddress: args.primaryAddress,
        // Unknown at preview (the key is made at create): the connection is then unknown too.
        hostKey: hostKeyOf(overlay.stdout, `${name}-disk`),
        triggers: [machine.id],
      },
      { parent: this, dependsOn: [machine], transformations: [deletedWithMachine(overlay)] },
    );
    this.address = ssh.address;
    this.connection = ssh.connection;
    this.hostId = ssh.hostId;
    this.tunnel = ssh.tunnel;
    this.machine = overlay;
    this.registerOutputs({ address: this.address, hostId: this.hostId });
  }
}
