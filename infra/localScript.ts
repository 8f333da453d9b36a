// A local.Command running a create/delete pair from our script builders with bash.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

export interface LocalScriptArgs {
  create: pulumi.Input<string>;
  delete?: pulumi.Input<string>;
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Replaces the step when these change (ids of upstream steps, so a rebuilt host rebuilds what is on it). */
  triggers?: pulumi.Input<unknown[]>;
  dir?: string;
}

export function localScript(name: string, args: LocalScriptArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
  return new command.local.Command(
    name,
    {
      interpreter: ["/bin/bash", "-c"],
      create: args.create,
      delete: args.delete,
      environment: args.environment,
      triggers: args.triggers,
      dir: args.dir,
    },
    // A changed script replaces the step: delete the old state first, since both touch the same names.
    { deleteBeforeReplace: true, ...opts },
  );
}
