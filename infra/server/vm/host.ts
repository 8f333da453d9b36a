// ServerHost on a machine reached over ssh (an adopted host, or the multipass VM once it has an
// address): waits until ssh lets us in, then makes the upload directory. Everything the lab does
// on the host runs through `connection` and waits for this; every ssh connection (the wait, each
// remote step, the test's tunnel to the metrics) pins the host key. The host itself is never
// deleted; destroy removes only the upload directory.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { sshWaitScript, VM_TIMEOUTS, type SshSteps } from "./steps.js";
import { remoteCommand, stagingCreateScript, stagingDeleteScript } from "./scripts/ssh.js";
import { replaceOnChange } from "../../localScript.js";
import type { MetricsTunnel } from "../../check/args.js";
import { hostKeyFrom } from "./scripts/hostKey.js";

/** The host key a create step printed (a VM the lab made); a step that printed none fails the update. */
export function hostKeyOf(stdout: pulumi.Output<string>, step: string): pulumi.Output<string> {
  return stdout.apply((out) => {
    try {
      return hostKeyFrom(out ?? "", step);
    } catch (e) {
      throw new pulumi.RunError(`c1m-lab: ${(e as Error).message}`);
    }
  });
}

export interface SshServerHostArgs {
  /** Where ssh connects (a name or address). */
  host: pulumi.Input<string>;
  ssh: SshSteps;
  /**
   * The private key (a secret): only in the connection and the wait step's environment. Unset
   * (server.sshAgent): both use the ssh-agent at SSH_AUTH_SOCK, found in the provider's
   * environment, so no socket path is stored and the stack holds no secret.
   */
  privateKey?: pulumi.Input<string>;
  stagingDir: string;
  /** The server's primary lab address. */
  primaryAddress: string;
  /**
   * The host's public key ("ssh-ed25519 AAAA..."): server.hostKey on an adopted host, the key the
   * lab generated for a VM it made. ssh talks to no host that presents another.
   */
  hostKey: pulumi.Input<string>;
  /** Upstream ids: a relaunched VM is waited for again. */
  triggers?: pulumi.Input<string>[];
}

export class SshServerHost extends pulumi.ComponentResource {
  /** The server's primary lab address, as the client host reaches it. */
  readonly address: pulumi.Output<string>;
  /** Where ssh connects. */
  readonly sshHost: pulumi.Output<string>;
  /** remote.Command / CopyToRemote connection (secret: it holds the key). */
  readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  /** Changes when the host is replaced; steps on the host list it in their triggers. */
  readonly hostId: pulumi.Output<string>;
  /** The upload directory's absolute path on the host. */
  readonly stagingPath: pulumi.Output<string>;
  /** How the connection test reaches the metrics on the host (no secret: the key is passed apart). */
  readonly tunnel: pulumi.Output<MetricsTunnel>;

  constructor(name: string, args: SshServerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("c1m-lab:server:VmServerHost", name, {}, opts);
    const { ssh } = args;
    const host = pulumi.output(args.host);
    const hostKey = pulumi.output(args.hostKey);
    const waitCreate = pulumi.all([host, hostKey]).apply(([h, k]) => sshWaitScript(ssh, h, k));
    const wait = new command.local.Command(
      `${name}-wait`,
      {
        interpreter: ["/bin/bash", "-c"],
        create: waitCreate,
        ...(ssh.keyEnv && args.privateKey !== undefined ? { environment: { [ssh.keyEnv]: pulumi.secret(args.privateKey) } } : {}),
        // The environment holds the key: keep the step's output out of the logs altogether.
        logging: "none",
        triggers: replaceOnChange([waitCreate], [host, ssh.port, ssh.user, ...(args.triggers ?? [])]),
      },
      { parent: this },
    );
    this.connection = pulumi.secret(
      pulumi.all([host, args.privateKey, hostKey]).apply(([h, key, k]) => ({
        host: h,
        port: ssh.port,
        user: ssh.user,
        ...(key !== undefined ? { privateKey: key } : {}),
        hostKey: k,
        perDialTimeout: 15,
        dialErrorLimit: 20,
      })),
    );
    const stagingCreate = remoteCommand(stagingCreateScript(args.stagingDir), VM_TIMEOUTS.staging);
    const stagingDelete = remoteCommand(stagingDeleteScript(args.stagingDir), VM_TIMEOUTS.staging);
    const staging = new command.remote.Command(
      `${name}-staging`,
      {
        connection: this.connection,
        create: stagingCreate,
        delete: stagingDelete,
        triggers: replaceOnChange([stagingCreate, stagingDelete], [wait.id]),
      },
      { parent: this, dependsOn: [wait], deleteBeforeReplace: true },
    );
    this.address = pulumi.output(args.primaryAddress);
    this.sshHost = host;
    this.hostId = wait.id;
    this.stagingPath = staging.stdout.apply((s) => (s ?? "").trim());
    this.tunnel = pulumi.all([host, hostKey]).apply(([h, k]) => ({ user: ssh.user, host: h, port: ssh.port, hostKey: k }));
    this.registerOutputs({ address: this.address, sshHost: this.sshHost, hostId: this.hostId, stagingPath: this.stagingPath });
  }
}
