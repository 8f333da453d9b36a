// The post-deploy connection test: runs workload/verify against the running lab and turns its
// JSON report into stack outputs. It reruns whenever what it tests changes. On a VM it reads the
// server's metrics through an ssh tunnel (verify's --metrics-ssh), with the lab's key and the
// host's pinned key.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { replaceOnChange } from "../localScript.js";
import { SSH_KEY_ENV } from "../../shared/protocol.js";
import { metricsTunnelArgs, type MetricsTunnel } from "./args.js";
import { verifyScript } from "./script.js";

export interface ConnectionTestArgs {
  node: string;
  verifyJs: string;
  verifyArgs: string[];
  /** The capacity plan as JSON (C1M_PLAN). */
  planJson: string;
  root: string;
  /** Ids of everything tested: the test reruns when any changes. */
  triggers: pulumi.Input<string>[];
  /** A VM: where ssh reaches the metrics (verifyArgs' --metrics-url is then the URL on the host). */
  tunnel?: pulumi.Input<MetricsTunnel>;
  /** With `tunnel`: the ssh private key (a secret); undefined = the ssh-agent at SSH_AUTH_SOCK. */
  sshPrivateKey?: pulumi.Input<string>;
}

/** The report's fields exported as stack outputs. */
export interface ConnectionReport {
  verdict?: string;
  total?: number;
  target?: number;
  perServerIp?: Record<string, number>;
  predicted?: number;
  bindingLimit?: string;
  diagnosis?: string;
  reportDir?: string;
  [key: string]: unknown;
}

/** verify prints one JSON document on stdout (progress goes to stderr). */
export function parseReport(stdout: string | undefined): ConnectionReport {
  try {
    return JSON.parse((stdout ?? "").trim()) as ConnectionReport;
  } catch {
    return {};
  }
}

export class ConnectionTest extends pulumi.ComponentResource {
  readonly report: pulumi.Output<ConnectionReport>;

  constructor(name: string, args: ConnectionTestArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:test:ConnectionTest", name, {}, opts);
    const create = pulumi
      .output(args.tunnel)
      .apply((t) => verifyScript(args.node, args.verifyJs, [...args.verifyArgs, ...(t ? metricsTunnelArgs(t) : [])]));
    const environment = { C1M_PLAN: args.planJson };
    const key: Record<string, pulumi.Input<string>> = args.tunnel !== undefined && args.sshPrivateKey !== undefined
      ? { [SSH_KEY_ENV]: pulumi.secret(args.sshPrivateKey) }
      : {};
    const run = new command.local.Command(
      `${name}-verify`,
      {
        interpreter: ["/bin/bash", "-c"],
        create,
        environment: { ...environment, ...key },
        dir: args.root,
        // stdout is the report JSON (it becomes the outputs); the progress lines are on stderr.
        logging: "stderr",
        // A changed plan or flag is a new test, not an update of the old verdict (the key is no part of it).
        triggers: replaceOnChange([create, environment], args.triggers),
      },
      { parent: this },
    );
    // A secret input makes the provider mark every output secret; the report holds no key.
    this.report = pulumi.unsecret(run.stdout).apply(parseReport);
    this.registerOutputs({ report: this.report });
  }
}
