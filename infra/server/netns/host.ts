// ServerHost, provider netns: a network namespace joined to the host by a veth pair stands
// for the server VM. Docker's own MASQUERADE rule SNATs container traffic to the host side.
import { randomUUID } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { localScript } from "../../localScript.js";
import {
  INSTANCE_ENV,
  netnsHostCreateScript,
  netnsHostDeleteScript,
  netnsHostInstanceScript,
  type NetnsHostArgs,
} from "./scripts/host.js";

/**
 * The token of the live host, or a new one when the host is gone. A Command has no read, so
 * after a reboot (or the namespace deleted out of band) the state would still describe the old
 * lab and `up` would change nothing: a new token in the host's triggers replaces the host, and
 * through the triggers every step on it.
 */
async function hostInstance(args: NetnsHostArgs): Promise<string> {
  const r = await command.local.run({
    command: netnsHostInstanceScript(args),
    interpreter: ["/bin/bash", "-c"],
    logging: "stderr",
  });
  const live = r.stdout.trim();
  return /^[0-9a-f-]{36}$/.test(live) ? live : randomUUID();
}

export class ServerHost extends pulumi.ComponentResource {
  /** The server's primary address, as the client host reaches it. */
  readonly address: pulumi.Output<string>;
  /** Changes when the host is rebuilt; steps on the host list it in their triggers. */
  readonly hostId: pulumi.Output<string>;

  constructor(name: string, args: NetnsHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:NetnsServerHost", name, {}, opts);
    const namespace = localScript(
      `${name}-namespace`,
      {
        create: netnsHostCreateScript(args),
        delete: netnsHostDeleteScript(args),
        environment: { [INSTANCE_ENV]: pulumi.output(hostInstance(args)) },
      },
      { parent: this },
    );
    this.address = pulumi.output(args.primaryAddress.split("/")[0]!);
    this.hostId = namespace.id;
    this.registerOutputs({ address: this.address, hostId: this.hostId });
  }
}
