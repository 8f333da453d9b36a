// The lab addresses on a VM: the article's fix for the NAT wall, as a netplan drop-in in the same
// netplan ID the host already uses for the interface. Probe the host's netplan files → render the
// drop-in (a bad interface stops here, before anything is uploaded) → upload it to the staging
// directory → validate with `netplan generate`, install, `netplan apply`. Destroy removes the
// drop-in and only the addresses it added.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import {
  installNetplanDropInScript,
  netplanIdProbeScript,
  removeNetplanDropInScript,
  stageDropInScript,
} from "./scripts/netplan.js";
import { replaceOnChange } from "../../localScript.js";
import { remoteCommand } from "./scripts/ssh.js";
import { netplanDropIn, netplanInstallOptions, VM_TIMEOUTS, type VmAddressSteps } from "./steps.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export interface SecondaryIpsArgs extends VmAddressSteps {
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  hostId: pulumi.Input<string>;
  /** multipass: the DHCP address, which must not be a lab address. */
  managementAddress?: pulumi.Input<string>;
}

export class SecondaryIps extends pulumi.ComponentResource {
  readonly addresses: pulumi.Output<string[]>;
  /** The drop-in's text (public: addresses only). */
  readonly dropIn: pulumi.Output<string>;
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: SecondaryIpsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:VmSecondaryIps", name, {}, opts);
    this.addresses = pulumi.output(args.addresses);
    if (args.addresses.length === 0) {
      // An adopted host with only its own primary address: nothing to add.
      this.dropIn = pulumi.output("");
      this.stepId = pulumi.output(args.hostId);
      this.registerOutputs({ addresses: this.addresses });
      return;
    }
    const probeCreate = remoteCommand(netplanIdProbeScript(), VM_TIMEOUTS.probe);
    const probe = new command.remote.Command(
      `${name}-probe`,
      { connection: args.connection, create: probeCreate, triggers: replaceOnChange([probeCreate], [args.hostId]) },
      { parent: this },
    );
    const rendered = pulumi.all([probe.stdout, args.managementAddress]).apply(([stdout, management]) => {
      try {
        return netplanDropIn(args, stdout ?? "", management);
      } catch (e) {
        // RunError: Pulumi prints the message alone. Nothing has been uploaded or changed yet.
        throw new pulumi.RunError(
          `c1m-lab: cannot add the lab addresses on server.interface ${args.iface}: ${(e as Error).message}`,
        );
      }
    });
    this.dropIn = rendered.apply((r) => r.text);
    const stageCreate = remoteCommand(stageDropInScript(args.stagedPath), VM_TIMEOUTS.staging);
    const upload = new command.remote.Command(
      `${name}-drop-in`,
      {
        connection: args.connection,
        create: stageCreate,
        stdin: this.dropIn,
        triggers: replaceOnChange([stageCreate], [args.hostId, this.dropIn.apply(sha256)]),
        logging: "stderr",
      },
      { parent: this, dependsOn: [probe] },
    );
    const installCreate = remoteCommand(installNetplanDropInScript(netplanInstallOptions(args)), VM_TIMEOUTS.netplanInstall);
    const installDelete = remoteCommand(
      removeNetplanDropInScript({ addresses: args.addresses, iface: args.iface }),
      VM_TIMEOUTS.netplanRemove,
    );
    const install = new command.remote.Command(
      `${name}-netplan`,
      {
        connection: args.connection,
        create: installCreate,
        delete: installDelete,
        // A new drop-in text re-installs (the create reads the staged file, so its text alone would not change).
        triggers: replaceOnChange([installCreate, installDelete], [args.hostId, this.dropIn.apply(sha256)]),
      },
      // Create and delete both own /etc/netplan/60-c1m-lab.yaml: remove the old before installing the new.
      { parent: this, dependsOn: [upload], deleteBeforeReplace: true },
    );
    this.stepId = install.id;
    this.registerOutputs({ addresses: this.addresses, dropIn: this.dropIn, netplanId: rendered.apply((r) => r.netplanId) });
  }
}
