// How a client host runs the lab's scripts and reaches its Docker engine: here with local.Command
// and the default docker provider; a host reached over ssh with remote.Command and a docker
// Provider of its own. ClientFleet builds the same resources through either, so a host of another
// kind (a Kubernetes fleet, later) is one more runner.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import { localScript, replaceOnChange, type LocalScriptArgs } from "../../localScript.js";
import { remoteCommand } from "../../server/vm/scripts/ssh.js";

export interface HostScript {
  id: pulumi.Output<string>;
  stdout: pulumi.Output<string>;
}

export interface HostRunner {
  /** Runs a create/delete script pair on the host; replaced when either changes. */
  script(
    name: string,
    args: Omit<LocalScriptArgs, "dir">,
    opts: pulumi.CustomResourceOptions,
  ): pulumi.CustomResource & HostScript;
  /** The host's docker provider (undefined: this machine's, the default). */
  provider?: docker.Provider;
}

/** This machine: the steps the lab always ran. */
export const localRunner: HostRunner = { script: localScript };

/** Bound on every remote step (a drain at scale can take minutes). */
const REMOTE_TIMEOUT_SECONDS = 900;

/** A host reached over ssh: each script in a remote.Command on `connection` (secret: it may hold the key). */
export function sshRunner(
  connection: pulumi.Output<command.types.input.remote.ConnectionArgs>,
  provider: docker.Provider,
  upstream: pulumi.Input<string>[],
): HostRunner {
  return {
    provider,
    script(name, args, opts) {
      const create = pulumi.output(args.create).apply((s) => remoteCommand(s, REMOTE_TIMEOUT_SECONDS));
      const del =
        args.delete === undefined ? undefined : pulumi.output(args.delete).apply((s) => remoteCommand(s, REMOTE_TIMEOUT_SECONDS));
      return new command.remote.Command(
        name,
        {
          connection,
          create,
          delete: del,
          ...(args.environment ? { environment: args.environment } : {}),
          triggers: replaceOnChange([create, del ?? "", args.environment ?? {}], [...(args.triggers ?? []), ...upstream]),
        },
        { deleteBeforeReplace: true, ...opts },
      );
    },
  };
}
