// Tuning for the VM lab: sysctls on the VM (/etc/sysctl.d/60-c1m-lab.conf, values before the lab
// recorded and restored on destroy), and conntrack on this machine, which NATs the clients
// (raised only when lower than the plan needs; restored on destroy).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { localScript, replaceOnChange } from "../../localScript.js";
import { tuningCreateScript, tuningDeleteScript, type TuningArgs as LocalTuningArgs } from "../netns/scripts/tuning.js";
import { installSysctlScript, restoreSysctlScript, type SysctlOptions } from "./scripts/sysctl.js";
import { remoteCommand } from "./scripts/ssh.js";
import { VM_TIMEOUTS } from "./steps.js";
import { script } from "../../shell.js";

const NO_NAT_HOST_TUNING = script("conntrack on this machine: unchanged", [":"]);

export interface TuningArgs {
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  hostId: pulumi.Input<string>;
  vm: SysctlOptions;
  natHost: LocalTuningArgs | null;
}

export class Tuning extends pulumi.ComponentResource {
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: TuningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:VmTuning", name, {}, opts);
    const create = remoteCommand(installSysctlScript(args.vm), VM_TIMEOUTS.sysctlInstall);
    const del = remoteCommand(restoreSysctlScript({ stateDir: args.vm.stateDir }), VM_TIMEOUTS.sysctlRestore);
    const sysctls = new command.remote.Command(
      `${name}-sysctls`,
      { connection: args.connection, create, delete: del, triggers: replaceOnChange([create, del], [args.hostId]) },
      // Both own /etc/sysctl.d/60-c1m-lab.conf and the record of the values before.
      { parent: this, deleteBeforeReplace: true },
    );
    // Registered even when there is nothing to raise, so that a change either way is a replace
    // (the old values restored first), never an end-of-update delete.
    localScript(
      `${name}-nat-host`,
      args.natHost
        ? { create: tuningCreateScript(args.natHost), delete: tuningDeleteScript(args.natHost) }
        : { create: NO_NAT_HOST_TUNING, delete: NO_NAT_HOST_TUNING },
      { parent: this },
    );
    this.stepId = sysctls.id;
    this.registerOutputs({ stepId: this.stepId });
  }
}
