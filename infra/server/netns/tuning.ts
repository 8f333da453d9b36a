// sysctl and fd-limit tuning: host-wide limits raised only when below what the plan needs and
// restored on destroy; per-namespace keys inside the server namespace.
import * as pulumi from "@pulumi/pulumi";
import { localScript } from "../../localScript.js";
import { tuningCreateScript, tuningDeleteScript, type TuningArgs } from "./scripts/tuning.js";

export interface TuningComponentArgs extends TuningArgs {
  hostId: pulumi.Input<string>;
}

export class Tuning extends pulumi.ComponentResource {
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: TuningComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:Tuning", name, {}, opts);
    const step = localScript(
      `${name}-sysctls`,
      { create: tuningCreateScript(args), delete: tuningDeleteScript(args), triggers: [args.hostId] },
      { parent: this },
    );
    this.stepId = step.id;
    this.registerOutputs({ stepId: this.stepId });
  }
}
