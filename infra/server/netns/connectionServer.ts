// The connection server (workload/server.ts, as one bundle) installed into the stack's directory,
// then started detached inside the server namespace. A new bundle replaces the install step, and
// its id restarts the server; a checkout at another path changes neither.
import * as pulumi from "@pulumi/pulumi";
import { localScript } from "../../localScript.js";
import { installFileCreateScript, installFileDeleteScript, type InstallFileArgs } from "../../install/scripts.js";
import { serverStartScript, serverStopScript, type ServerProcessArgs } from "./scripts/server.js";

export interface ConnectionServerArgs extends ServerProcessArgs {
  install: InstallFileArgs;
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
    const install = localScript(
      `${name}-install`,
      { create: installFileCreateScript(args.install), delete: installFileDeleteScript(args.install) },
      { parent: this },
    );
    const step = localScript(
      `${name}-process`,
      { create: serverStartScript(args), delete: serverStopScript(args), triggers: [...args.triggers, install.id] },
      { parent: this, dependsOn: [install] },
    );
    this.metricsUrl = pulumi.output(args.metricsUrl);
    this.pid = step.stdout.apply((s) => (s ?? "").trim());
    this.stepId = step.id;
    this.registerOutputs({ metricsUrl: this.metricsUrl, pid: this.pid });
  }
}
