// The connection test's ssh tunnel to a VM's metrics, against a real OpenSSH sshd on 127.0.0.1
// (a free port, its own host key and authorized key) and a stand-in metrics server on loopback:
// the tunnel logs in with the key or through an ssh-agent, forwards to the address as the host
// sees it, opens a dropped session again, and refuses a host that presents another key than the
// pinned one (the fingerprints in the message are ssh-keygen's). Then verify itself, as the
// stack runs it, with --metrics-ssh. Traffic: loopback only. Everything is stopped in after().
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { need, sh } from "../support/sh.js";
import { startSshd } from "../support/sshd.js";
import { openSshTunnel, SshTunnelError } from "../../workload/verify/sshTunnel.js";
import { loadFixture } from "../unit/verify-fixtures.js";
import { FAST_VERIFY } from "../support/verifyFlags.js";

const VERIFY = fileURLToPath(new URL("../../workload/verify.js", import.meta.url));
let tmp = "";
let sshd: ChildProcess | null = null;
let agent: ChildProcess | null = null;
let sshPort = 0;
let metrics: Server | null = null;
let metricsPort = 0;
let hostKey = "";
let userKey = "";
/** Peers the stand-in metrics server saw: the tunnel's far end is sshd on the host itself. */
const peers: string[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function until(ok: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up`);
}

/** ssh-keygen's own fingerprint of a public key file (not the code under test's). */
const fingerprintOf = (pub: string) => sh(`ssh-keygen -lf ${pub}`).split(" ")[1]!;

describe("the connection test's ssh tunnel to a VM's metrics", () => {
  before(async () => {
    need(process.getuid?.() === 0, "root (sshd): run the tests as root");
    need(
      existsSync("/usr/sbin/sshd") && existsSync("/usr/bin/ssh-agent"),
      "openssh-server and openssh-client: apt-get install -y openssh-server openssh-client",
    );
    tmp = mkdtempSync(join(tmpdir(), "c1mt-tunnel-"));
    sh(`ssh-keygen -q -t ed25519 -N '' -C c1mt -f ${tmp}/id && ssh-keygen -q -t ed25519 -N '' -C c1mt-host -f ${tmp}/host_key`);
    sh(`ssh-keygen -q -t ed25519 -N '' -C other -f ${tmp}/other_key`);
    writeFileSync(`${tmp}/authorized_keys`, readFileSync(`${tmp}/id.pub`));
    hostKey = readFileSync(`${tmp}/host_key.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    userKey = readFileSync(`${tmp}/id`, "utf8");

    metrics = createServer((req, res) => {
      peers.push(req.socket.remoteAddress ?? "");
      res
        .writeHead(req.url === "/stats" ? 200 : 404, { "content-type": "application/json" })
        .end(JSON.stringify({ url: req.url }));
    });
    await new Promise<void>((resolve) => metrics!.listen(0, "127.0.0.1", resolve));
    metricsPort = (metrics.address() as AddressInfo).port;

    sshPort = await freePort();
    sshd = await startSshd({
      hostKey: `${tmp}/host_key`,
      authorizedKeys: `${tmp}/authorized_keys`,
      listen: "127.0.0.1",
      port: sshPort,
      extra: ["-o", "AllowTcpForwarding=yes"],
    });
  });

  after(async () => {
    sshd?.kill("SIGTERM");
    agent?.kill("SIGTERM");
    if (metrics) await new Promise((resolve) => metrics!.close(resolve));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const target = () => ({ user: "root", host: "127.0.0.1", port: sshPort, hostKey });

  test("with the private key: GET /stats through the tunnel reaches the metrics address as the host sees it", async () => {
    const tunnel = await openSshTunnel(target(), { host: "127.0.0.1", port: metricsPort }, { privateKey: userKey });
    try {
      assert.match(tunnel.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(tunnel.url, `http://127.0.0.1:${metricsPort}`);
      const before = peers.length;
      const res = await fetch(`${tunnel.url}/stats`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { url: "/stats" });
      assert.equal(peers.length, before + 1, "one request reached the metrics server");
      assert.equal(tunnel.lastError(), null);
    } finally {
      await tunnel.close();
    }
  });

  test("a host presenting another key than the pinned one is refused, naming both fingerprints (ssh-keygen's)", async () => {
    const wrong = readFileSync(`${tmp}/other_key.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    await assert.rejects(
      openSshTunnel({ ...target(), hostKey: wrong }, { host: "127.0.0.1", port: metricsPort }, { privateKey: userKey }),
      (e: Error) => {
        assert.ok(e instanceof SshTunnelError, String(e));
        assert.equal(
          e.message,
          `ssh root@127.0.0.1:${sshPort} presented host key ${fingerprintOf(`${tmp}/host_key.pub`)}, not the pinned ${fingerprintOf(`${tmp}/other_key.pub`)}: refused`,
        );
        return true;
      },
    );
  });

  test("a key the host does not authorize fails the login with ssh's reason", async () => {
    await assert.rejects(
      openSshTunnel(target(), { host: "127.0.0.1", port: metricsPort }, { privateKey: readFileSync(`${tmp}/other_key`, "utf8") }),
      /^SshTunnelError: ssh root@127\.0\.0\.1:\d+: All configured authentication methods failed$/,
    );
  });

  test("through an ssh-agent (no key given); a dropped session is opened again on the next request", async () => {
    const sock = join(tmp, "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    await until(async () => existsSync(sock), "ssh-agent");
    sh(`SSH_AUTH_SOCK=${sock} ssh-add -q ${tmp}/id`);
    const tunnel = await openSshTunnel(target(), { host: "127.0.0.1", port: metricsPort }, { agent: sock });
    try {
      assert.equal((await fetch(`${tunnel.url}/stats`)).status, 200);
      // sshd's per-session processes are its children: killing them drops our session.
      sh(`pkill -KILL -P ${sshd!.pid}`);
      await new Promise((r) => setTimeout(r, 300));
      let status = 0;
      for (let i = 0; i < 3 && status !== 200; i++) {
        status = await fetch(`${tunnel.url}/stats`, { signal: AbortSignal.timeout(5000) }).then(
          (r) => r.status,
          () => 0,
        );
      }
      assert.equal(status, 200, `answered again after the drop (last tunnel error: ${tunnel.lastError()})`);
    } finally {
      await tunnel.close();
    }
  });

  test("verify --metrics-ssh: judges through the tunnel (key from C1M_SSH_PRIVATE_KEY); a wrong pinned key fails at once, exit 1", async () => {
    const fx = loadFixture("nat-pool-1ip");
    const snapshots = fx.run.observations.map((o) => o.server!);
    let k = 0;
    const stats = createServer((req, res) => {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(snapshots[Math.min(k++, snapshots.length - 1)]));
    });
    // Only on the host's loopback, as on a VM: reached through sshd alone.
    await new Promise<void>((resolve) => stats.listen(0, "127.0.0.1", resolve));
    const port = (stats.address() as AddressInfo).port;
    const run = (key: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [
            VERIFY,
            "--metrics-url",
            `http://127.0.0.1:${port}`,
            "--metrics-ssh",
            `root@127.0.0.1:${sshPort}`,
            "--metrics-ssh-host-key",
            key,
            "--expect",
            "plateau",
            ...FAST_VERIFY,
            "--clients-label",
            `c1m-lab.tunnel-test=${process.pid}`,
            "--reports-dir",
            join(tmp, "reports"),
          ],
          {
            env: { ...process.env, C1M_PLAN: JSON.stringify(fx.plan), C1M_SSH_PRIVATE_KEY: userKey, SSH_AUTH_SOCK: "" },
            timeout: 25_000,
          },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        );
      });
    try {
      const ok = await run(hostKey);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).verdict, "plateau-as-expected");
      assert.match(
        ok.stderr,
        new RegExp(
          `^verify: metrics http://127\\.0\\.0\\.1:${port} on root@127\\.0\\.0\\.1 through ssh \\(http://127\\.0\\.0\\.1:\\d+\\)$`,
          "m",
        ),
      );
      assert.ok(k >= 5, "polled through the tunnel");

      const wrong = readFileSync(`${tmp}/other_key.pub`, "utf8").split(" ").slice(0, 2).join(" ");
      const polled = k;
      const bad = await run(wrong);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "", "no report");
      assert.equal(
        bad.stderr,
        `verify: cannot reach the server's metrics: ssh root@127.0.0.1:${sshPort} presented host key ${fingerprintOf(`${tmp}/host_key.pub`)}, not the pinned ${fingerprintOf(`${tmp}/other_key.pub`)}: refused\n`,
      );
      assert.equal(k, polled, "nothing read from a host that is not the pinned one");
    } finally {
      await new Promise((resolve) => stats.close(resolve));
    }
  });
});
