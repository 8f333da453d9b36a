// npm run lab:* without running it: the engine's environment (the passphrase rules), which
// stacks need a secret, the stack files (examples listed as their stack, copied on first use),
// the engine's project directory, and the summary both runners print.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { engineEnv, engineWorkDir, needsSecret, outcomeLines, UsageError, verifySummary } from "../../infra/cli/lab.js";
import { parseLabConfig } from "../../infra/config/schema.js";
import { ensureStackFile, readStackConfig, stackConfigFile, stackNames } from "../../infra/config/stackFile.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "c1m-lab-cli-"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const BASE = {
  PULUMI_BACKEND_URL: "file:///proj/.pulumi-state",
  PULUMI_SKIP_UPDATE_CHECK: "true",
  PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true",
};
const opts = (secrets: boolean) => ({ secrets, stack: "qemu", root: "/proj" });
const REMEDY =
  "set PULUMI_CONFIG_PASSPHRASE_FILE to a file holding your passphrase (e.g. (umask 077; openssl rand -base64 24 > ~/.c1m-lab-passphrase); " +
  "export PULUMI_CONFIG_PASSPHRASE_FILE=~/.c1m-lab-passphrase) or PULUMI_CONFIG_PASSPHRASE to it, " +
  "or use your ssh-agent instead (server.sshAgent: true, no secret)";

describe("engineEnv", () => {
  test("a stack without secrets: the empty passphrase unless one is set", () => {
    assert.deepEqual(engineEnv({}, opts(false)), { ...BASE, PULUMI_CONFIG_PASSPHRASE: "" });
    assert.deepEqual(engineEnv({ PULUMI_CONFIG_PASSPHRASE: "s3" }, opts(false)), { ...BASE, PULUMI_CONFIG_PASSPHRASE: "s3" });
    assert.deepEqual(engineEnv({ PULUMI_BACKEND_URL: "file:///elsewhere" }, opts(false)), {
      ...BASE,
      PULUMI_BACKEND_URL: "file:///elsewhere",
      PULUMI_CONFIG_PASSPHRASE: "",
    });
  });

  test("PULUMI_CONFIG_PASSPHRASE_FILE set: PULUMI_CONFIG_PASSPHRASE is never set (the CLI would read it first)", () => {
    assert.deepEqual(engineEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: "/nowhere" }, opts(false)), BASE);
    assert.deepEqual(engineEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: "/nowhere", PULUMI_CONFIG_PASSPHRASE: "" }, opts(false)), BASE);
    const file = join(tmp, "passphrase");
    writeFileSync(file, "correct horse\n", { mode: 0o600 });
    assert.deepEqual(engineEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: file }, opts(true)), BASE);
  });

  test("a stack with a secret: no passphrase, or an empty one, is refused naming both variables", () => {
    assert.throws(
      () => engineEnv({}, opts(true)),
      (e: Error) => {
        assert.ok(e instanceof UsageError);
        assert.equal(
          e.message,
          "stack qemu keeps c1m-lab:sshPrivateKey as a secret and no passphrase is set (a secret under the empty passphrase " +
            `is decryptable by anyone): ${REMEDY}`,
        );
        return true;
      },
    );
    assert.throws(
      () => engineEnv({ PULUMI_CONFIG_PASSPHRASE: "" }, opts(true)),
      new UsageError(
        "stack qemu keeps c1m-lab:sshPrivateKey as a secret and PULUMI_CONFIG_PASSPHRASE is empty (a secret under the empty " +
          `passphrase is decryptable by anyone): ${REMEDY}`,
      ),
    );
    assert.deepEqual(engineEnv({ PULUMI_CONFIG_PASSPHRASE: "s3" }, opts(true)), { ...BASE, PULUMI_CONFIG_PASSPHRASE: "s3" });
  });

  test("a stack with a secret: a passphrase file that is missing or empty is refused", () => {
    const missing = join(tmp, "missing");
    assert.throws(
      () => engineEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: missing }, opts(true)),
      new UsageError(
        `stack qemu keeps c1m-lab:sshPrivateKey as a secret and PULUMI_CONFIG_PASSPHRASE_FILE ${missing} cannot be read (ENOENT): ${REMEDY}`,
      ),
    );
    const empty = join(tmp, "empty");
    writeFileSync(empty, " \n");
    assert.throws(
      () => engineEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: empty }, opts(true)),
      new UsageError(
        `stack qemu keeps c1m-lab:sshPrivateKey as a secret and PULUMI_CONFIG_PASSPHRASE_FILE ${empty} is empty: ${REMEDY}`,
      ),
    );
  });
});

test("needsSecret: the VM stacks as shipped (the key as a secret), not netns, not with the ssh-agent", () => {
  const config = (stack: string, server: Record<string, unknown> = {}) => {
    const raw = readStackConfig(root, stack, { shipped: true });
    return parseLabConfig({ ...raw, server: { ...(raw.server as object), ...server } });
  };
  assert.deepEqual(
    ["local", "snat-1ip", "qemu", "multipass", "ssh"].map((s) => needsSecret(config(s))),
    [false, false, true, true, true],
  );
  assert.equal(needsSecret(config("qemu", { sshAgent: true })), false);
  assert.equal(needsSecret(config("ssh", { sshAgent: true })), false);
});

test("outcomeLines: verdict and count, the diagnosis, the report directory", () => {
  assert.deepEqual(
    outcomeLines({
      verdict: "plateau-as-expected",
      total: 1000,
      target: 3000,
      diagnosis: "Plateau at 1,000 of 3,000 connections = the NAT source-port pool.",
      reportDir: "/r/snat-1ip/2026",
      perServerIp: { "10.201.1.2": 1000 },
    }),
    [
      "verdict: plateau-as-expected  total: 1000 of 3000",
      "Plateau at 1,000 of 3,000 connections = the NAT source-port pool.",
      "report: /r/snat-1ip/2026",
    ],
  );
  assert.deepEqual(outcomeLines({ verdict: "fail", total: 0, target: 10, diagnosis: null, reportDir: null }), [
    "verdict: fail  total: 0 of 10",
  ]);
});

test("verifySummary: the engine-free path prints verify's report JSON as the engine path prints its outputs", () => {
  // verify's stdout against a server that never answered (workload/verify.js, captured here).
  const stdout = `${JSON.stringify(
    {
      verdict: "fail",
      total: 0,
      target: 3000,
      perServerIp: { "10.201.1.2": 0 },
      perClient: {},
      predicted: 1000,
      ceiling: 1000,
      bindingLimit: "nat-pool",
      diagnosis:
        "Server unreachable: http://127.0.0.1:1/stats did not answer any of 4 polls over 3 s (bad port); check that the server runs and that its metrics address is reachable from here.",
      sharedSourcePorts: { total: 0, perRemoteIp: {}, example: null },
      conntrack: null,
      rampSeconds: null,
      reportDir: "/tmp/dbg-reports/dbg/2026-12-06T16-54-42Z",
      limit: "server-unreachable",
      stopReason: "timeout",
      crossCheck: null,
      soak: null,
      warnings: ["client view not observed (no --clients-label): judged on the server view alone."],
    },
    null,
    2,
  )}\n`;
  assert.equal(
    verifySummary(stdout),
    "verdict: fail  total: 0 of 3000\n" +
      "Server unreachable: http://127.0.0.1:1/stats did not answer any of 4 polls over 3 s (bad port); check that the server runs and that its metrics address is reachable from here.\n" +
      "report: /tmp/dbg-reports/dbg/2026-12-06T16-54-42Z\n",
  );
  assert.equal(verifySummary(""), "", "nothing printed: nothing to sum up");
  assert.equal(verifySummary("verify: bad\n"), "verify: bad\n", "not JSON: shown as it is");
});

describe("stack files: examples are their stack, copied on first use", () => {
  let dir: string;
  const EXAMPLE = "# the shipped qemu stack\nconfig:\n  c1m-lab:server:\n    provider: qemu\n    image: /img/disk.qcow2\n";
  before(() => {
    dir = join(tmp, "project");
    mkdirSync(dir);
    writeFileSync(join(dir, "Pulumi.yaml"), "name: c1m-lab\n");
    writeFileSync(join(dir, "Pulumi.local.yaml"), "config:\n  c1m-lab:server:\n    provider: netns\n");
    writeFileSync(join(dir, "Pulumi.qemu.example.yaml"), EXAMPLE);
    writeFileSync(
      join(dir, "Pulumi.ssh.example.yaml"),
      "config:\n  c1m-lab:server:\n    provider: ssh\n    host: 203.0.113.10\n",
    );
    writeFileSync(join(dir, "Pulumi.ssh.yaml"), "config:\n  c1m-lab:server:\n    provider: ssh\n    host: db1\n");
  });

  test("stackNames lists an example as its stack, once", () => {
    assert.deepEqual(stackNames(dir), ["local", "qemu", "ssh"]);
    const shipped = stackNames(root);
    for (const s of ["local", "qemu", "multipass", "ssh"]) assert.ok(shipped.includes(s), `${s} in ${shipped.join(", ")}`);
    assert.deepEqual(
      shipped.filter((s) => s.includes("example")),
      [],
    );
  });

  test("readStackConfig: the stack's own file, else its example; shipped: the example", () => {
    assert.deepEqual(readStackConfig(dir, "qemu"), { server: { provider: "qemu", image: "/img/disk.qcow2" } });
    assert.deepEqual(readStackConfig(dir, "ssh"), { server: { provider: "ssh", host: "db1" } });
    assert.deepEqual(readStackConfig(dir, "ssh", { shipped: true }), { server: { provider: "ssh", host: "203.0.113.10" } });
    assert.equal(stackConfigFile(dir, "local", { shipped: true }), join(dir, "Pulumi.local.yaml"));
    assert.equal(stackConfigFile(dir, "nope"), undefined);
  });

  test("ensureStackFile: copies a missing file from its example, once; a stack without an example is left alone", () => {
    assert.equal(
      ensureStackFile(dir, "qemu"),
      "copied Pulumi.qemu.example.yaml to Pulumi.qemu.yaml (untracked: your settings and secrets go there)",
    );
    assert.equal(readFileSync(join(dir, "Pulumi.qemu.yaml"), "utf8"), EXAMPLE);
    assert.equal(ensureStackFile(dir, "qemu"), undefined);
    assert.equal(ensureStackFile(dir, "local"), undefined);
    assert.equal(ensureStackFile(dir, "ssh"), undefined, "the user's own file is kept");
  });

  test("ensureStackFile: a file `pulumi stack select --create` left (salt, secret, no settings) gets the example's settings", () => {
    const own = join(dir, "Pulumi.qemu.yaml");
    writeFileSync(own, "encryptionsalt: v1:abc=\nconfig:\n  c1m-lab:sshPrivateKey:\n    secure: v1:xyz=\n");
    assert.equal(
      ensureStackFile(dir, "qemu"),
      "Pulumi.qemu.yaml held no c1m-lab settings: filled in those of Pulumi.qemu.example.yaml, kept what it held",
    );
    assert.deepEqual(parse(readFileSync(own, "utf8")), {
      config: {
        "c1m-lab:server": { provider: "qemu", image: "/img/disk.qcow2" },
        "c1m-lab:sshPrivateKey": { secure: "v1:xyz=" },
      },
      encryptionsalt: "v1:abc=",
    });
    assert.ok(readFileSync(own, "utf8").startsWith("# the shipped qemu stack\n"), "the example's comments kept");
  });

  test("engineWorkDir: the project linked, the stack file copied; the original untouched", () => {
    for (const f of ["package.json", "dist", "node_modules"]) mkdirSync(join(dir, f), { recursive: true });
    const before = readFileSync(join(dir, "Pulumi.local.yaml"), "utf8");
    const work = engineWorkDir(dir, "local");
    assert.equal(work, join(dir, ".c1m-lab", "engine-workdir", "local"));
    for (const f of ["Pulumi.yaml", "package.json", "dist", "node_modules"]) {
      assert.ok(lstatSync(join(work, f)).isSymbolicLink(), f);
      assert.equal(readlinkSync(join(work, f)), join(dir, f));
    }
    assert.ok(!lstatSync(join(work, "Pulumi.local.yaml")).isSymbolicLink(), "a copy, not a link: Pulumi writes into it");
    assert.equal(readFileSync(join(work, "Pulumi.local.yaml"), "utf8"), before);
    // What the engine writes into the copy stays there; the next run starts from the stack file again.
    writeFileSync(join(work, "Pulumi.local.yaml"), `encryptionsalt: v1:abc=\n${before}`);
    engineWorkDir(dir, "local");
    assert.equal(readFileSync(join(work, "Pulumi.local.yaml"), "utf8"), before);
    assert.equal(readFileSync(join(dir, "Pulumi.local.yaml"), "utf8"), before);
    assert.equal(existsSync(join(dir, "Pulumi.local.yaml")), true);
  });
});
