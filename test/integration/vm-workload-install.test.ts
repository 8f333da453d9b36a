// installWorkloadScript (infra/server/vm/scripts/workload.ts) run for real on this machine, the
// way remote.Command runs it on a VM: `sh -c '<timeout … bash -c …>'` in the ssh user's home (a
// temp HOME here), the staged file where CopyToRemote would put it, /opt/c1m-lab a temp
// directory. Everything is removed in after().
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { writeServerBundle } from "../../infra/install/bundle.js";
import { installWorkloadScript, installedServerPath } from "../../infra/server/vm/scripts/workload.js";
import { q } from "../../infra/shell.js";
import { need, okOut, runInHome } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

/** A stand-in server: small, fixed bytes, so the sha256 below is a literal. */
const PROGRAM = 'console.log("c1m install ok", process.argv.slice(2).join(","));\n';
const PROGRAM_SHA256 = "ddb473f6043913ebe6360ee585642ec0bab3d4ff91a515a163f28786a35de35b";
const SECOND = 'console.log("c1m second");\n';
const SECOND_SHA256 = "6db391fd8e5e61d8aa72156df73ed073abbf4cde3306d733fff81861caea982c";

describe("installWorkloadScript, for real", () => {
  let tmp = "";
  let home = "";
  let workdir = "";
  const staged = ".c1m-lab/itest/c1m-server.mjs";

  /** Runs a remote step as the VM's login shell would: sh -c, bounded by timeout, in the home directory. */
  const remote = (text: string, timeoutSeconds = 120) =>
    runInHome(home, `timeout --kill-after=10 ${timeoutSeconds} bash -c ${q(text)}`, timeoutSeconds);
  const ok = okOut;
  const install = (sha256: string) => remote(installWorkloadScript({ stagedPath: staged, sha256, workdir }));
  const stage = (text: string) => writeFileSync(`${home}/${staged}`, text); // what CopyToRemote does
  const run = (...args: string[]) =>
    spawnSync(`${workdir}/bin/node`, [`${workdir}/c1m-server.mjs`, ...args], { cwd: workdir, encoding: "utf8", timeout: 30_000 });

  before(() => {
    need(process.getuid?.() === 0, "root (it installs root-owned files, as on the VM): run the tests as root");
    tmp = mkdtempSync("/tmp/c1mt-install-");
    home = `${tmp}/home`;
    mkdirSync(`${home}/.c1m-lab/itest`, { recursive: true });
    workdir = `${tmp}/opt/c1m-lab`;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("inputs: a workdir with a space or a quote, relative, too shallow or not named c1m, a bad sha256 or staged path: refused", () => {
    const good = { stagedPath: staged, sha256: PROGRAM_SHA256, workdir: "/opt/c1m-lab" };
    for (const w of [
      "/opt/c1m lab",
      "/opt/c1m'lab",
      '/opt/c1m"lab',
      "/opt/c1m-lab/$(id)",
      "opt/c1m-lab",
      "/c1m-lab",
      "/opt/lab",
      "/opt/../c1m",
    ]) {
      assert.throws(
        () => installWorkloadScript({ ...good, workdir: w }),
        (err: Error) =>
          err.name === "ScriptInputError" &&
          err.message.startsWith(
            `installWorkloadScript: workdir ${JSON.stringify(w)} is not valid: use a dedicated absolute directory`,
          ),
        w,
      );
    }
    for (const s of ["", "0".repeat(63), "A".repeat(64), `${"0".repeat(64)}\n`]) {
      assert.throws(
        () => installWorkloadScript({ ...good, sha256: s }),
        /^ScriptInputError: installWorkloadScript: sha256 .* is not valid: use 64 lowercase hex digits$/,
      );
    }
    for (const p of ["", "a\nb", "a\rb", "a\0b"]) {
      assert.throws(
        () => installWorkloadScript({ ...good, stagedPath: p }),
        /installWorkloadScript: stagedPath .* is not valid: use a file path/,
      );
    }
    assert.equal(installedServerPath("/opt/c1m-lab"), "/opt/c1m-lab/c1m-server.mjs");
  });

  test("installs workdir/c1m-server.mjs root-owned with a working bin/node; nothing left next to it", () => {
    stage(PROGRAM);
    assert.match(
      ok(install(PROGRAM_SHA256), "install"),
      /^c1m-lab: server installed as \/tmp\/c1mt-install-\w+\/opt\/c1m-lab\/c1m-server\.mjs \(node v\d+\.\d+\.\d+ at \/\S+\)\n$/,
    );
    assert.deepEqual(readdirSync(workdir).sort(), ["bin", "c1m-server.mjs"]);
    assert.equal(readFileSync(`${workdir}/c1m-server.mjs`, "utf8"), PROGRAM);
    for (const [path, mode] of [
      [workdir, 0o755],
      [`${workdir}/bin`, 0o755],
      [`${workdir}/bin/node`, 0o755],
      [`${workdir}/c1m-server.mjs`, 0o644],
    ] as const) {
      const st = statSync(path);
      assert.equal(st.uid, 0, path);
      assert.equal(st.gid, 0, path);
      assert.equal(st.mode & 0o777, mode, path);
    }
    assert.match(readFileSync(`${workdir}/bin/node`, "utf8"), /^#!\/bin\/sh\nexec \/[A-Za-z0-9_./+@-]+ "\$@"\n$/);
    assert.deepEqual(readdirSync(dirname(workdir)), ["c1m-lab"], "no half-built copies left next to it");

    const r = run("a b", "c");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "c1m install ok a b,c\n", "the wrapper passes arguments through");
    const version = spawnSync(`${workdir}/bin/node`, ["--version"], { encoding: "utf8" }).stdout.trim();
    assert.ok(Number(version.slice(1).split(".")[0]) >= 20, version);
  });

  test("a wrong sha256 or a missing staged file fails with a message and leaves the previous install", () => {
    stage(SECOND);
    const bad = install(PROGRAM_SHA256);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      new RegExp(
        `c1m-lab: the staged server \\.c1m-lab/itest/c1m-server\\.mjs has sha256 ${SECOND_SHA256}, expected ${PROGRAM_SHA256} \\(incomplete upload\\?\\)`,
      ),
    );
    assert.equal(readFileSync(`${workdir}/c1m-server.mjs`, "utf8"), PROGRAM, "the previous install is intact");
    assert.equal(run().stdout, "c1m install ok \n");

    rmSync(`${home}/${staged}`);
    const missing = install(SECOND_SHA256);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /c1m-lab: the staged server \.c1m-lab\/itest\/c1m-server\.mjs is missing: upload it first/);
    assert.equal(readFileSync(`${workdir}/c1m-server.mjs`, "utf8"), PROGRAM);
    assert.deepEqual(readdirSync(dirname(workdir)), ["c1m-lab"]);
  });

  test("a re-install replaces the workdir as a whole (an old tarball install's dist/ and node_modules/ go)", () => {
    for (const d of ["dist/workload", "node_modules/prom-client"]) mkdirSync(`${workdir}/${d}`, { recursive: true });
    writeFileSync(`${workdir}/dist/workload/server.js`, "old\n");
    stage(SECOND);
    ok(install(SECOND_SHA256), "re-install");
    assert.deepEqual(readdirSync(workdir).sort(), ["bin", "c1m-server.mjs"]);
    assert.equal(run().stdout, "c1m second\n");
    assert.deepEqual(readdirSync(dirname(workdir)), ["c1m-lab"]);
  });

  test("the real bundle, installed, runs through the wrapper from a directory without node_modules", () => {
    const bundle = writeServerBundle(root, `${tmp}/bundle`);
    stage(readFileSync(bundle.path, "utf8"));
    ok(install(bundle.sha256), "install bundle");
    assert.equal(existsSync(`${tmp}/node_modules`) || existsSync("/tmp/node_modules"), false);
    const r = run("--help");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: node .* \[options\]\n/);
    assert.match(r.stdout, /--metrics-port N/);
  });
});
