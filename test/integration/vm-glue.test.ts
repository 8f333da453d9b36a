// The VM lab's glue scripts (infra/server/vm/scripts/ssh.ts, workload.ts, unit.ts) run for real
// on this machine, the way remote.Command runs them on a VM: `sh -c '<timeout … bash -c …>'` in the
// ssh user's home (a temp HOME here). The server bundle is this checkout's (the installer's own
// cases are in vm-workload-install.test.ts); /opt/c1m-lab is a temp directory; the
// installed server is started from the install and answers /healthz on loopback. Everything is
// removed in after(). Traffic: 127.0.0.1 only.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { removeServerUnitScript } from "../../infra/server/vm/scripts/unit.js";
import { installWorkloadScript } from "../../infra/server/vm/scripts/workload.js";
import { remoteCommand, stagingCreateScript, stagingDeleteScript } from "../../infra/server/vm/scripts/ssh.js";
import { writeServerBundle, type ServerBundle } from "../../infra/install/bundle.js";
import { need, okOut, runInHome } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
describe("VM glue scripts, for real", () => {
  let tmp = "";
  let home = "";
  let workdir = "";
  let bundle: ServerBundle;
  const staging = ".c1m-lab/itest";

  /** Runs a remote step as the VM's login shell would: sh -c, in the home directory. */
  const remote = (text: string, timeoutSeconds = 120) => runInHome(home, remoteCommand(text, timeoutSeconds), timeoutSeconds);
  const ok = okOut;
  const install = (sha256 = bundle.sha256) =>
    remote(installWorkloadScript({ stagedPath: `${staging}/c1m-server.mjs`, sha256, workdir }), 300);

  before(() => {
    need(process.getuid?.() === 0, "root (it installs root-owned files, as on the VM): run the tests as root");
    tmp = mkdtempSync("/tmp/c1mt-glue-");
    home = `${tmp}/home`;
    mkdirSync(home);
    workdir = `${tmp}/opt/c1m-lab`;
    bundle = writeServerBundle(root, `${tmp}/bundle`);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("staging: created 0700 in the home, its absolute path printed; idempotent", () => {
    assert.equal(ok(remote(stagingCreateScript(staging)), "create"), `${home}/${staging}\n`);
    assert.equal(ok(remote(stagingCreateScript(staging)), "create again"), `${home}/${staging}\n`);
    assert.equal(statSync(`${home}/${staging}`).mode & 0o777, 0o700);
  });

  test("workload: the one file and a node wrapper in the workdir, root-owned; the installed server answers /healthz and /metrics", async () => {
    copyFileSync(bundle.path, `${home}/${staging}/c1m-server.mjs`); // what CopyToRemote does
    assert.match(
      ok(install(), "install"),
      /c1m-lab: server installed as .*\/opt\/c1m-lab\/c1m-server\.mjs \(node v\d+\.\d+\.\d+ at \//,
    );
    assert.deepEqual(readdirSync(workdir).sort(), ["bin", "c1m-server.mjs"], "no node_modules, no package.json: one file");
    const st = statSync(`${workdir}/bin/node`);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o755);
    assert.equal(statSync(workdir).mode & 0o777, 0o755);
    assert.equal(statSync(`${workdir}/c1m-server.mjs`).mode & 0o777, 0o644);
    assert.deepEqual(
      readdirSync(dirname(workdir)).filter((n) => n !== "c1m-lab"),
      [],
      "no half-built copies left next to it",
    );
    const version = spawnSync(`${workdir}/bin/node`, ["--version"], { encoding: "utf8" }).stdout.trim();
    assert.ok(Number(version.slice(1).split(".")[0]) >= 20, version);

    // Started the way the unit's ExecStart starts it, from its WorkingDirectory.
    const [port, metricsPort] = (await freePorts(2)) as [number, number];
    const server = spawn(
      `${workdir}/bin/node`,
      [
        `${workdir}/c1m-server.mjs`,
        "--port",
        String(port),
        "--addresses",
        "127.0.0.1",
        "--workers",
        "1",
        "--metrics-port",
        String(metricsPort),
        "--metrics-address",
        "127.0.0.1",
        "--backlog",
        "4096",
        "--expect-connections",
        "10",
      ],
      { cwd: workdir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    server.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(
        async () => (await httpStatus(`http://127.0.0.1:${metricsPort}/healthz`)) === 200,
        20_000,
        () => stderr,
      );
      const sock = net.connect(port, "127.0.0.1");
      await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
      sock.destroy();
      assert.equal(await httpStatus(`http://127.0.0.1:${metricsPort}/metrics`), 200, "prom-client works from the bundle");
    } finally {
      server.kill("SIGTERM");
      await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
    }
  });

  test("the server unit's delete removes the workdir too (why files and unit are one step)", () => {
    ok(remote(removeServerUnitScript({ workdir, root: tmp })), "remove unit");
    assert.equal(existsSync(workdir), false);
  });

  test("staging delete: the directory and its empty parent go; idempotent", () => {
    ok(remote(stagingDeleteScript(staging)), "delete");
    assert.equal(existsSync(`${home}/.c1m-lab`), false);
    ok(remote(stagingDeleteScript(staging)), "delete again");
  });
});

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer();
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function httpStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms; server stderr: ${context()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
