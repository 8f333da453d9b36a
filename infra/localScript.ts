// A local.Command running a create/delete pair from our script builders with bash, and the
// triggers that make any Command of the lab replace (not update) when what it runs changes.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

export interface LocalScriptArgs {
  create: pulumi.Input<string>;
  delete?: pulumi.Input<string>;
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Replaces the step when these change (ids of upstream steps, so a rebuilt host rebuilds what is on it). */
  triggers?: pulumi.Input<unknown>[];
  dir?: string;
}

/** A stable digest of JSON-able values (object keys sorted). */
export function digest(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, canonical(x)]),
          )
        : v;
  return createHash("sha256")
    .update(JSON.stringify(canonical(value) ?? null))
    .digest("hex");
}

/**
 * `triggers` for a Command: a digest of what it runs, then the upstream ids. @pulumi/command
 * replaces a Command only when its triggers change; any other changed input is an update that
 * re-runs `create` and never the old `delete`, which would leave what the old script made (a
 * renamed veth, a SNAT rule for the old port range) behind, even after destroy.
 */
export function replaceOnChange(runs: pulumi.Input<unknown>[], upstream: pulumi.Input<unknown>[] = []): pulumi.Output<unknown[]> {
  return pulumi.all([pulumi.all(runs), pulumi.all(upstream)]).apply(([r, u]) => [digest(r), ...u]);
}

export function localScript(name: string, args: LocalScriptArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
  return new command.local.Command(
    name,
    {
      interpreter: ["/bin/bash", "-c"],
      create: args.create,
      delete: args.delete,
      environment: args.environment,
      triggers: replaceOnChange([args.create, args.delete ?? "", args.environment ?? {}, args.dir ?? ""], args.triggers),
      dir: args.dir,
    },
    // Create and delete touch the same names: the old step's delete runs before the new create.
    { deleteBeforeReplace: true, ...opts },
  );
}
