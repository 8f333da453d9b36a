// The connection server (workload/server.ts) started detached inside the server namespace.
import * as pulumi from "@pulumi/pulumi";
import { localScript } from "../../localScript.js";
import { serverStartScript, serverStopScript, type ServerProcessArgs } from "./scripts/server.js";

export interface ConnectionServerArgs extends ServerProcessArgs {
  metricsUrl: string;
  /** Upstream step ids: a rebuilt host, address list or tuning restarts the server. */
  triggers: pulumi.Input<string>[];
}

export class ConnectionServer extends pulumi.ComponentResource {
  readonly metricsUrl: pulumi.Output<string>;
  /** The server's pid (create prints it). */
  readonly pid: pulumi.Output<string>;
  readonly stepId: pulumi.Output<string>;

  constructor(name: string, args: ConnectionServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:ConnectionServer", name, {}, opts);
    const step = localScript(
      `${name}-process`,
      { create: serverStartScript(args), delete: serverStopScript(args), triggers: args.triggers },
      { parent: this },
    );
    this.metricsUrl = pulumi.output(args.metricsUrl);
    this.pid = step.stdout.apply((s) => (s ?? "").trim());
    this.stepId = step.id;
    this.registerOutputs({ metricsUrl: this.metricsUrl, pid: this.pid });
  }
}
