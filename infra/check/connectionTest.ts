// The post-deploy connection test: runs workload/verify (one bundle, installed into the stack's
// directory) against the running lab and turns its JSON report into stack outputs. It reruns
// whenever what it tests changes, or verify itself. It runs in the directory the engine runs
// the steps in (the project's), so a relative --reports-dir lands there, and no checkout's path
// is among its inputs. On a VM it reads the server's metrics through an ssh tunnel (verify's
// --metrics-ssh), with the lab's key and the host's pinned key.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { localScript, replaceOnChange } from "../localScript.js";
import { installFileCreateScript, installFileDeleteScript, installedPath, type InstallFileArgs } from "../install/scripts.js";
import { SSH_KEY_ENV } from "../../shared/protocol.js";
import { clientHostArgs, metricsTunnelArgs, type ClientHostAccess, type MetricsTunnel } from "./args.js";
import { verifyScript } from "./script.js";

export interface ConnectionTestArgs {
  node: string;
  /** verify's bundle and where it goes. */
  install: InstallFileArgs;
  verifyArgs: string[];
  /** The capacity plan as JSON (C1M_PLAN). */
  planJson: string;
  /** More environment for verify (e.g. the reconnect storm's restart script); never a secret. */
  environment?: Record<string, string>;
  /** Ids of everything tested: the test reruns when any changes. */
  triggers: pulumi.Input<string>[];
  /** A VM: where ssh reaches the metrics (verifyArgs' --metrics-url is then the URL on the host). */
  tunnel?: pulumi.Input<MetricsTunnel>;
  /** With `tunnel`: the ssh private key (a secret); undefined = the ssh-agent at SSH_AUTH_SOCK. */
  sshPrivateKey?: pulumi.Input<string>;
  /** Several client hosts: each one's Docker (and conntrack) is read, over ssh where it is remote. */
  clientHosts?: pulumi.Input<ClientHostAccess[]>;
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
  /** The hold's ping round trips in ms: p50, p99, p999, max, count, pings, unanswered, maxRttMs. */
  rtt?: Record<string, number | null> | null;
  /** The load generator's headroom: limitedBy (client names), CPU peaks of clients and server. */
  generator?: Record<string, unknown> | null;
  /** test.mode find-limit: the last step that held, what stopped the stepping, each step's numbers. */
  capacity?: number;
  stoppedBy?: string;
  curve?: unknown[];
  /** test.scenario reconnect-storm: recovery time, peak handshakes/s at the listeners, drops, connections lost for good. */
  storm?: Record<string, unknown> | null;
  /** test.scenario conntrack-flush: entries deleted, connections held / dropped / reconnected / lost for good, unanswered pings, insert failures. */
  conntrackFlush?: Record<string, unknown> | null;
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
    const install = localScript(
      `${name}-install`,
      { create: installFileCreateScript(args.install), delete: installFileDeleteScript(args.install) },
      { parent: this },
    );
    const create = pulumi
      .all([args.tunnel, args.clientHosts])
      .apply(([t, hosts]) =>
        verifyScript(args.node, installedPath(args.install), [
          ...args.verifyArgs,
          ...(t ? metricsTunnelArgs(t) : []),
          ...clientHostArgs(hosts ?? []),
        ]),
      );
    const environment = { ...args.environment, C1M_PLAN: args.planJson };
    const key: Record<string, pulumi.Input<string>> = args.tunnel !== undefined && args.sshPrivateKey !== undefined
      ? { [SSH_KEY_ENV]: pulumi.secret(args.sshPrivateKey) }
      : {};
    const run = new command.local.Command(
      `${name}-verify`,
      {
        interpreter: ["/bin/bash", "-c"],
        create,
        environment: { ...environment, ...key },
        // stdout is the report JSON (it becomes the outputs); the progress lines are on stderr.
        logging: "stderr",
        // A changed plan or flag is a new test, not an update of the old verdict (the key is no part of it).
        triggers: replaceOnChange([create, environment], [...args.triggers, install.id]),
      },
      { parent: this, dependsOn: [install] },
    );
    // A secret input makes the provider mark every output secret; the report holds no key.
    this.report = pulumi.unsecret(run.stdout).apply(parseReport);
    this.registerOutputs({ report: this.report });
  }
}
