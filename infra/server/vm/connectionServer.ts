// The connection server on a VM: one bundled file (bundle.ts: the server, prom-client included)
// uploaded to the staging directory, installed into /opt/c1m-lab, and run by a systemd unit with the plan's LimitNOFILE; up when /healthz answers on the primary address.
// Destroy stops and removes the unit and /opt/c1m-lab.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { installServerUnitScript, removeServerUnitScript, type ServerUnitOptions } from "./scripts/unit.js";
import { installWorkloadScript, type InstallWorkloadOptions } from "./scripts/workload.js";
import { remoteCommand, remoteSequence } from "./scripts/ssh.js";
import { VM_TIMEOUTS } from "./steps.js";
import { replaceOnChange } from "../../localScript.js";

export interface ConnectionServerArgs {
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  hostId: pulumi.Input<string>;
  bundle: { path: string; sha256: string };
  workload: InstallWorkloadOptions;
  unit: ServerUnitOptions;
  metricsUrl: string;
  /** Upstream step ids: a rebuilt host, address list or tuning restarts the server. */
  triggers: pulumi.Input<string>[];
}

/** The unit step's create: install the uploaded workload, then (re)start the unit and wait for /healthz. */
export function serverUnitCreate(args: Pick<ConnectionServerArgs, "workload" | "unit">): string {
  return remoteSequence(
    [installWorkloadScript(args.workload), VM_TIMEOUTS.workloadInstall],
    [installServerUnitScript(args.unit), VM_TIMEOUTS.unitInstall],
  );
}

export function serverUnitDelete(args: Pick<ConnectionServerArgs, "unit">): string {
  return remoteCommand(removeServerUnitScript({ workdir: args.unit.workdir }), VM_TIMEOUTS.unitRemove);
}

export class ConnectionServer extends pulumi.ComponentResource {
  readonly metricsUrl: pulumi.Output<string>;
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: ConnectionServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:VmConnectionServer", name, {}, opts);
    const upload = new command.remote.CopyToRemote(
      `${name}-workload`,
      {
        connection: args.connection,
        source: new pulumi.asset.FileAsset(args.bundle.path),
        remotePath: args.workload.stagedPath,
        triggers: [args.hostId],
      },
      { parent: this },
    );
    // One step for files and unit: the unit's delete removes /opt/c1m-lab, so they are replaced together.
    const create = serverUnitCreate(args);
    const del = serverUnitDelete(args);
    const unit = new command.remote.Command(
      `${name}-unit`,
      {
        connection: args.connection,
        create,
        delete: del,
        triggers: replaceOnChange([create, del], [...args.triggers, args.bundle.sha256]),
      },
      { parent: this, dependsOn: [upload], deleteBeforeReplace: true },
    );
    this.metricsUrl = pulumi.output(args.metricsUrl);
    this.stepId = unit.id;
    this.registerOutputs({ metricsUrl: this.metricsUrl, stepId: this.stepId });
  }
}
