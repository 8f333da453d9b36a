// The server's secondary addresses: the article's fix for the NAT wall (more server IPs, each
// a fresh 64,512-port pool per client IP).
import * as pulumi from "@pulumi/pulumi";
import { localScript } from "../../localScript.js";
import { netnsAddressesCreateScript, netnsAddressesDeleteScript, type AddressesArgs } from "./scripts/addresses.js";

export interface SecondaryIpsArgs extends AddressesArgs {
  hostId: pulumi.Input<string>;
}

export class SecondaryIps extends pulumi.ComponentResource {
  readonly addresses: pulumi.Output<string[]>;
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: SecondaryIpsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:SecondaryIps", name, {}, opts);
    const step = localScript(
      `${name}-addresses`,
      { create: netnsAddressesCreateScript(args), delete: netnsAddressesDeleteScript(args), triggers: [args.hostId] },
      { parent: this },
    );
    this.addresses = pulumi.output(args.addresses);
    this.stepId = step.id;
    this.registerOutputs({ addresses: this.addresses });
  }
}
