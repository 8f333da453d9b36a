// The VM lab's glue scripts (infra/vmScripts.ts) run for real on this machine, the way
// remote.Command runs them on a VM: `sh -c '<timeout … bash -c …>'` in the ssh user's home (a
// temp HOME here). The workload bundle is this checkout's; /opt/c1m-lab is a temp directory; the
// installed server is started from the install and answers /healthz on loopback. Everything is
// removed in after(). Traffic: 127.0.0.1 only.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { removeServerUnitScript } from "../../infra/server/vm/scripts/unit.js";
import { installWorkloadScript } from "../../infra/server/vm/scripts/workload.js";
import { remoteCommand, stagingCreateScript, stagingDeleteScript } from "../../infra/server/vm/scripts/ssh.js";
import { writeWorkloadBundle, type WorkloadBundle } from "../../infra/server/vm/workloadBundle.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const skip = process.getuid?.() !== 0 ? "needs root (installs root-owned files, as on the VM)" : false;

describe("VM glue scripts, for real", { skip }, () => {
  let tmp = "";
  let home = "";
  let workdir = "";
  let bundle: WorkloadBundle;
  const staging = ".c1m-lab/itest";

  /** Runs a remote step as the VM's login shell would: sh -c, in the home directory. */
  const remote = (text: string, timeoutSeconds = 120) => {
    const r = spawnSync("sh", ["-c", remoteCommand(text, timeoutSeconds)], {
      cwd: home,
      encoding: "utf8",
      timeout: (timeoutSeconds + 15) * 1000,
      env: { ...process.env, HOME: home, PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin` },
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => {
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r.stdout;
  };
  const install = (sha256 = bundle.sha256) =>
    remote(installWorkloadScript({ bundlePath: `${staging}/server-workload.tgz`, sha256, workdir }), 300);

  before(() => {
    tmp = mkdtempSync("/tmp/c1mt-glue-");
    home = `${tmp}/home`;
    mkdirSync(home);
    workdir = `${tmp}/opt/c1m-lab`;
    bundle = writeWorkloadBundle(root, `${tmp}/bundle`);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("staging: created 0700 in the home, its absolute path printed; idempotent", () => {
    assert.equal(ok(remote(stagingCreateScript(staging)), "create"), `${home}/${staging}\n`);
    assert.equal(ok(remote(stagingCreateScript(staging)), "create again"), `${home}/${staging}\n`);
    assert.equal(statSync(`${home}/${staging}`).mode & 0o777, 0o700);
  });

  test("workload: unpacked into the workdir, root-owned, with a node wrapper; the installed server answers /healthz", async () => {
    copyFileSync(bundle.path, `${home}/${staging}/server-workload.tgz`); // what CopyToRemote does
    assert.match(ok(install(), "install"), /c1m-lab: workload installed in .*\/opt\/c1m-lab \(node v\d+\.\d+\.\d+ at \//);
    assert.deepEqual(JSON.parse(readFileSync(`${workdir}/package.json`, "utf8")).type, "module");
    for (const f of [
      "dist/workload/server.js",
      "node_modules/prom-client/index.js",
      "node_modules/tdigest/package.json",
      "bin/node",
    ]) {
      assert.ok(existsSync(`${workdir}/${f}`), f);
    }
    const st = statSync(`${workdir}/bin/node`);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o755);
    assert.equal(statSync(workdir).mode & 0o777, 0o755);
    assert.equal(statSync(`${workdir}/dist/workload/server.js`).mode & 0o777, 0o644);
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
        `${workdir}/dist/workload/server.js`,
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

  test("re-install replaces the workdir as a whole; a wrong sha256 or a missing bundle changes nothing", () => {
    writeFileSync(`${workdir}/stale-marker`, "x");
    ok(install(), "re-install");
    assert.equal(existsSync(`${workdir}/stale-marker`), false, "replaced, not merged");

    const bad = install("0".repeat(64));
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /the staged workload .*server-workload\.tgz has sha256 [0-9a-f]{64}, expected 0{64} \(incomplete upload\?\)/,
    );
    assert.ok(existsSync(`${workdir}/dist/workload/server.js`), "the previous install is intact");

    rmSync(`${home}/${staging}/server-workload.tgz`);
    const missing = install();
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /the staged workload \.c1m-lab\/itest\/server-workload\.tgz is missing: upload it first/);
    assert.ok(existsSync(`${workdir}/bin/node`));
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
