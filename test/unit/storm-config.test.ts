// test.scenario reconnect-storm in the stack config, the lab's steps and verify's command line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config/schema.js";
import { connectionTestArgs, scenarioArgs } from "../../infra/check/args.js";
import { clientSteps } from "../../infra/clients/steps.js";
import { UsageError } from "../../workload/cliArgs.js";
import { parseVerifyArgs } from "../../workload/verify/args.js";
import { loadFixture } from "./verify-fixtures.js";

const QEMU = { provider: "qemu", image: "/x.qcow2", secondaryAddresses: { count: 1 } };

function rejects(input: Record<string, unknown>, message: string): void {
  assert.throws(
    () => parseLabConfig(input),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `Invalid c1m-lab config:\n${message}`);
      return true;
    },
  );
}

test("test.scenario: hold by default; reconnect-storm with maxRecoverySeconds unset (60 at use) or set", () => {
  assert.equal(parseLabConfig({}).test.scenario, "hold");
  const storm = parseLabConfig({ test: { scenario: "reconnect-storm" } });
  assert.deepEqual([storm.test.scenario, storm.test.maxRecoverySeconds], ["reconnect-storm", undefined]);
  assert.deepEqual(scenarioArgs(storm.test), ["--scenario", "reconnect-storm", "--max-recovery-seconds", "60"]);
  const bounded = parseLabConfig({ test: { scenario: "reconnect-storm", maxRecoverySeconds: 30 } });
  assert.deepEqual(scenarioArgs(bounded.test), ["--scenario", "reconnect-storm", "--max-recovery-seconds", "30"]);
});

test("test.scenario refuses: an unknown scenario, a storm on a VM or with find-limit, maxRecoverySeconds without a storm or not above the backoff base", () => {
  rejects(
    { test: { scenario: "flood" } },
    '✖ Invalid option: expected one of "hold"|"reconnect-storm"|"conntrack-flush"; got "flood"\n  → at test.scenario',
  );
  rejects(
    { server: QEMU, test: { scenario: "reconnect-storm" } },
    "✖ reconnect-storm restarts the connection server from the connection test, which the lab does for server.provider netns only (not yet for qemu): use test.scenario: hold here, or a netns stack\n  → at test.scenario",
  );
  rejects(
    { test: { maxRecoverySeconds: 30 } },
    "✖ maxRecoverySeconds bounds a reconnect storm or a conntrack flush: only with test.scenario: reconnect-storm or conntrack-flush\n  → at test.maxRecoverySeconds",
  );
  rejects(
    { clients: { reconnect: { baseMs: 5000 } }, test: { scenario: "reconnect-storm", maxRecoverySeconds: 5 } },
    "✖ a dropped connection waits up to clients.reconnect.baseMs (5000 ms) before it reconnects: make maxRecoverySeconds more than 5 s\n  → at test.maxRecoverySeconds",
  );
  rejects(
    { clients: { reconnect: { baseMs: 90_000, capMs: 90_000 } }, test: { scenario: "reconnect-storm" } },
    "✖ a dropped connection waits up to clients.reconnect.baseMs (90000 ms) before it reconnects: make maxRecoverySeconds (unset, it is 60) more than 90 s\n  → at test.maxRecoverySeconds",
  );
  rejects(
    { test: { scenario: "reconnect-storm", mode: "find-limit", findLimit: { stepConnections: 100 } } },
    "✖ reconnect-storm follows a hold of the whole target, and find-limit stops at its first broken step: use one of test.mode: find-limit or test.scenario: reconnect-storm per run\n  → at test.scenario",
  );
  rejects(
    { test: { scenario: "reconnect-storm", maxRecoverySeconds: 3601 } },
    "✖ Too big: expected number to be <=3600; got 3601\n  → at test.maxRecoverySeconds",
  );
});

test("only a storm's clients get C1M_RECONNECT=1 and only its test the --scenario flags", () => {
  const plan = { ...loadFixture("nat-pool-1ip").plan, needs: { containerNofile: 1024 } } as unknown as Parameters<
    typeof clientSteps
  >[1];
  const paths = {
    reportsDir: "reports",
    installDir: "/i",
    staged: { verify: { path: "/s/verify.js", sha256: "x" }, clientImage: { context: "/c", dockerfile: "/c/Dockerfile" } },
  } as unknown as Parameters<typeof clientSteps>[3];
  const endpoints = { metricsUrl: "http://10.201.0.2:9100", clientsLabel: "c1m-lab.stack=dev" };
  const hold = parseLabConfig({});
  const storm = parseLabConfig({ test: { scenario: "reconnect-storm" } });
  const env = (c: typeof hold) => clientSteps(c, plan, "dev", paths, { natDestinations: ["10.201.0.0/24"] }).containers[0]!.env;
  assert.equal(env(hold).C1M_RECONNECT, undefined);
  assert.equal(env(storm).C1M_RECONNECT, "1");
  assert.equal(connectionTestArgs(hold, "dev", paths, endpoints).includes("--scenario"), false);
  assert.equal(connectionTestArgs(storm, "dev", paths, endpoints).includes("--scenario"), true);
});

test("verify: --scenario reconnect-storm needs C1M_RESTART_SCRIPT; --max-recovery-seconds only with it", () => {
  const plan = JSON.stringify(loadFixture("nat-pool-1ip").plan);
  const base = ["--metrics-url", "http://10.201.0.2:9100"];
  const parse = (argv: string[], env: Record<string, string> = {}) =>
    parseVerifyArgs([...base, ...argv], { C1M_PLAN: plan, ...env });
  const storm = parse(["--scenario", "reconnect-storm", "--max-recovery-seconds", "30"], { C1M_RESTART_SCRIPT: "echo restart" });
  assert.ok(!storm.help);
  assert.deepEqual(
    [storm.options.scenario, storm.options.maxRecoverySeconds, storm.options.restartScript],
    ["reconnect-storm", 30, "echo restart"],
  );
  const messages: Array<[string[], string]> = [
    [
      ["--scenario", "reconnect-storm"],
      "--scenario reconnect-storm: needs the server's restart script (bash) in C1M_RESTART_SCRIPT",
    ],
    [["--max-recovery-seconds", "30"], "--max-recovery-seconds: only with --scenario reconnect-storm or conntrack-flush"],
    [["--scenario", "storm"], '--scenario: expected one of hold, reconnect-storm, conntrack-flush, got "storm"'],
  ];
  for (const [argv, message] of messages) {
    assert.throws(
      () => parse(argv),
      (e: unknown) => e instanceof UsageError && e.message === message,
      message,
    );
  }
});
