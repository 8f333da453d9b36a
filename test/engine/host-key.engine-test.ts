// The host key the lab pins, through the real engine and the command provider (1.2.1): the lab's
// own ssh host component (SshServerHost: the local wait for ssh, then the upload directory made by
// a remote Command) against a real OpenSSH sshd on loopback. With the host's key, `up` makes it;
// once the host presents another key (the same address, a new key: another machine, or a host
// rebuilt under it), the provider refuses the connection and destroy fails without touching the
// host; with the key back, destroy finishes. Loopback only; sshd and the stack are removed in after().
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation/index.js";
import { requireEngine } from "../support/engine.js";
import { need, sh } from "../support/sh.js";
import { startSshd, stopSshd } from "../support/sshd.js";
import { SshServerHost } from "../../infra/server/vm/host.js";
import { SSH_KEY_ENV } from "../../shared/protocol.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const name = `c1mx-hk${process.pid % 10_000}`;
/** The upload directory, in the home of the ssh user (root, on this machine). */
const staging = `.c1m-lab/${name}`;
let dir = "";
let port = 0;
let sshd: ChildProcess | null = null;
let stack: Stack | undefined;

const pub = (file: string) => readFileSync(file, "utf8").split(" ").slice(0, 2).join(" ");

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port: p } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return p;
}

/** sshd on 127.0.0.1:port presenting `hostKeyFile` (the one before it stopped first). */
async function restartSshd(hostKeyFile: string): Promise<void> {
  if (sshd) await stopSshd(sshd);
  sshd = await startSshd({ hostKey: hostKeyFile, authorizedKeys: `${dir}/authorized_keys`, listen: "127.0.0.1", port });
}

before(async () => {
  need(process.getuid?.() === 0, "root (sshd): run the engine tests as root");
  need(existsSync("/usr/sbin/sshd"), "openssh-server: apt-get install -y openssh-server");
  const engine = await requireEngine(root, { plugins: true });
  dir = mkdtempSync(join(tmpdir(), "c1mx-hostkey-"));
  sh(`ssh-keygen -q -t ed25519 -N '' -C '' -f ${dir}/id`);
  for (const k of ["host_a", "host_b"]) sh(`ssh-keygen -q -t ed25519 -N '' -C '' -f ${dir}/${k}`);
  writeFileSync(`${dir}/authorized_keys`, readFileSync(`${dir}/id.pub`));
  mkdirSync(`${dir}/state`);
  port = await freePort();
  await restartSshd(`${dir}/host_a`);
  const privateKey = readFileSync(`${dir}/id`, "utf8");
  const hostKey = pub(`${dir}/host_a.pub`);
  stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: name,
      projectName: "c1mx-hostkey",
      // The lab's component as the program registers it, with the host's key (an adopted host's server.hostKey).
      program: async () => {
        const host = new SshServerHost("host", {
          host: "127.0.0.1",
          ssh: { port, user: "root", keyEnv: SSH_KEY_ENV, waitTimeoutSeconds: 60 },
          privateKey: pulumi.secret(privateKey),
          stagingDir: staging,
          primaryAddress: "127.0.0.1",
          hostKey,
        });
        return { stagingPath: host.stagingPath };
      },
    },
    {
      pulumiCommand: engine.command,
      envVars: {
        PULUMI_BACKEND_URL: `file://${dir}/state`,
        PULUMI_CONFIG_PASSPHRASE: "c1mx-hostkey",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      },
    },
  );
});

after(async () => {
  if (stack) {
    await restartSshd(`${dir}/host_a`).catch(() => undefined);
    await stack.cancel().catch(() => undefined);
    await stack.destroy().catch((e: Error) => console.error(`after: destroy failed: ${e.message}`));
    await stack.workspace.removeStack(stack.name).catch(() => undefined);
  }
  sshd?.kill("SIGTERM");
  rmSync(`/root/${staging}`, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("up: the host presenting the pinned key lets every step in (the wait, the provider's remote Command)", async () => {
  const r = await stack!.up();
  assert.equal(r.outputs.stagingPath?.value, `/root/${staging}`);
  assert.ok(existsSync(`/root/${staging}`), "the remote step made the upload directory");
});

test("the host's key changed: the provider refuses the connection; destroy fails and touches nothing", async () => {
  await restartSshd(`${dir}/host_b`);
  const started = Date.now();
  await assert.rejects(stack!.destroy(), (e: Error) => {
    assert.match(e.message, /ssh: host key mismatch/);
    return true;
  });
  assert.ok(existsSync(`/root/${staging}`), "the delete never ran on the host");
  // The provider retries a failed dial (dialErrorLimit 20): bounded, not hung.
  assert.ok(Date.now() - started < 240_000, `failed in ${Math.round((Date.now() - started) / 1000)} s`);
});

test("the key back: destroy finishes and removes the upload directory", async () => {
  await restartSshd(`${dir}/host_a`);
  await stack!.destroy();
  assert.equal(existsSync(`/root/${staging}`), false);
});
