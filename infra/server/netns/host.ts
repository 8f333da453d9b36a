// ServerHost, provider netns: a network namespace joined to the host by a veth pair stands
// for the server VM. Docker's own MASQUERADE rule SNATs container traffic to the host side.
import * as pulumi from "@pulumi/pulumi";
import { hostInstance } from "../../instance.js";
import { localScript } from "../../localScript.js";
import { INSTANCE_ENV } from "../../shell.js";
import { netnsHostCreateScript, netnsHostDeleteScript, netnsHostInstanceScript, type NetnsHostArgs } from "./scripts/host.js";

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
        environment: { [INSTANCE_ENV]: pulumi.output(hostInstance(netnsHostInstanceScript(args))) },
      },
      { parent: this },
    );
    this.address = pulumi.output(args.primaryAddress.split("/")[0]!);
    this.hostId = namespace.id;
    this.registerOutputs({ address: this.address, hostId: this.hostId });
  }
}
